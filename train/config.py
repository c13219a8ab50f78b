"""Training configs: one TOML file per recipe (a row of the papers' tables, a seed method, or the demo).

A config names its `method` (how the model is trained; default `regression`, the papers' 000/001 recipe; every
method is a line of REGISTRY) and holds sections: [model], [loss], [sampling], [solver] and [align] for every
method, plus the section of its method, named after it ([saliency], [fn2en] or [au]). Unknown sections or
settings, and a method section that does not belong to the config's method, are errors that name the file.
Each setting's type and range is declared on its field (engine.schema): a value of another type, or out of
range, is an error naming its section and key before any work starts.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from engine.au import DEFAULT_AUS
from engine.backbone_specs import BACKBONES
from engine.errors import PainmonError
from engine.model_card import FACS_AUS
from engine.schema import NOT_NEGATIVE, POSITIVE, Checked, checked, within
from train.losses import LossConfig


class ConfigError(PainmonError):
    """A training config file is missing or invalid."""


@dataclass(frozen=True)
class ModelConfig(Checked):
    """engine.model.PainRegressor arguments."""

    backbone: str = "inception_resnet_v1"
    pretrained: str | None = None  # TOML has no null: leave it out for random initialisation
    input_size: tuple[int, int] | None = None  # (h, w); None: the backbone's own (sizes: config_from_dict)
    embed_dim: int = field(default=50, metadata=within(1, 4096))
    dropout: float = field(default=0.5, metadata=within(0, 1, high_open=True))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r} (choose from {', '.join(BACKBONES)})")
        choices = BACKBONES[self.backbone].pretrained
        if self.pretrained is not None and self.pretrained not in choices:
            raise ValueError(f"{self.backbone} has no pretrained weights {self.pretrained!r} "
                             f"(available: {', '.join(choices) or 'none'})")


@dataclass(frozen=True)
class SamplingConfig(Checked):
    """Paper 001 §3.3 'sampling': redundant-frame elimination and uniform class sampling."""

    eliminate_redundant: bool = False
    max_run: int = field(default=5, metadata=POSITIVE)
    uniform_classes: bool = False


MAX_BATCH_SIZE = 4096
"""Most faces in one SGD step: a larger batch only exhausts the memory."""


@dataclass(frozen=True)
class SolverConfig(Checked):
    """SGD settings; the defaults are the papers'."""

    lr: float = field(default=1e-4, metadata=POSITIVE)
    momentum: float = field(default=0.9, metadata=within(0, 1, high_open=True))
    weight_decay: float = field(default=5e-4, metadata=NOT_NEGATIVE)
    batch_size: int = field(default=64, metadata=within(0, MAX_BATCH_SIZE, low_open=True))
    iterations: int = field(default=5000, metadata=POSITIVE)
    mirror: bool = True
    seed: int = field(default=0, metadata=within(0, 2**32 - 1))  # what numpy and torch take
    snapshot_every: int = field(default=250, metadata=POSITIVE)  # iterations between resumable snapshots


@dataclass(frozen=True)
class AlignConfig(Checked):
    """Face detection settings of the alignment cache (the crop size is the model's input size)."""

    # MTCNN's smallest window is 12 pixels: a smaller minimum face only enlarges every frame.
    min_face_size: int = field(default=40, metadata=within(12))


@dataclass(frozen=True)
class SaliencyConfig(Checked):
    """Paper 002: triplet pre-training with saliency supervision, then the [loss] regression fine-tune.

    The paper gives the learning rates and the patch size; it does not give α, β, the bins or the number of
    pre-training iterations (the values here are ours).
    """

    # alternating global/local steps before the regression fine-tune
    iterations: int = field(default=1000, metadata=POSITIVE)
    local: bool = True  # false: global triplet loss only (the paper's method 1)
    # AU k is relevant (set A) when |Va−Vp| < alpha and |Va−Vn| >= alpha (FACS steps)
    alpha: float = field(default=1.0, metadata=POSITIVE)
    # global triplet margin: beta · |pain(anchor) − pain(negative)|
    beta: float = field(default=0.2, metadata=NOT_NEGATIVE)
    # side of the square saliency patch around each AU point, pixels (odd)
    patch: int = field(default=11, metadata=within(1, 255))
    bins: int = field(default=16, metadata=within(2, 256))  # histogram bins of a patch for the EMD
    global_lr: float = field(default=0.001, metadata=POSITIVE)  # SGD step of the global triplet loss (§4)
    local_lr: float = field(default=0.01, metadata=POSITIVE)  # SGD step of the local (saliency) loss (§4)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.patch % 2 == 0:
            raise ValueError(f"patch must be odd (a patch odd in size centres on a point), got {self.patch}")


@dataclass(frozen=True)
class FN2ENConfig(Checked):
    """Paper 004: stage (a) the frozen face net's features supervise the pain net's conv layers.

    The paper (a poster summary) gives no stage (a) solver: it uses [solver]'s momentum, weight decay, batch
    size, mirroring and snapshot interval with the learning rate and iteration count below (ours: as many
    iterations as the papers' regression, at the rate that trains the small CNN from scratch in demo.toml).
    """

    # stage (a) iterations; stage (b) is the [loss] regression for solver.iterations
    iterations: int = field(default=5000, metadata=POSITIVE)
    teacher_backbone: str = "inception_resnet_v1"  # the face net G, a backbone of engine.backbones
    teacher_pretrained: str = "vggface2"  # its weights (downloaded once); "" for random weights (tests only)
    teacher_checkpoint: str = ""  # painmon checkpoint whose backbone is G (overrides the two settings above)
    teacher_layer: str = ""  # G's supervising layer (a name in its named_modules()); "" = last conv block
    student_layer: str = ""  # the pain net's supervised layer; "" = its last conv block before pooling
    p: int = 2  # the loss is ‖g(I) − G(I)‖ₚᵖ (1 or 2), averaged over elements
    lr: float = field(default=0.01, metadata=POSITIVE)  # stage (a) SGD learning rate

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.p not in (1, 2):
            raise ValueError(f"p must be 1 or 2, got {self.p}")


@dataclass(frozen=True)
class AUConfig(Checked):
    """Paper 003 (train/methods/au.py): multi-label AU detection ensemble; pain = PSPI of its AUs.

    The members name the backbones ([model] backbone and pretrained are not used); [model] input_size and
    dropout apply to every member.
    """

    aus: tuple[int, ...] = field(default=DEFAULT_AUS, metadata=FACS_AUS)  # the AUs detected, in output order
    # Ensemble members, each "backbone" or "backbone:pretrained", trained separately; the paper ensembles a
    # face-recognition and an expression pre-training (two IR-152s): here two face-recognition weight sets.
    members: tuple[str, ...] = ("inception_resnet_v1:vggface2", "inception_resnet_v1:casia-webface")
    # an AU is present when its FACS intensity exceeds this (AU43, coded 0/1: when 1)
    presence: float = field(default=0.0, metadata=within(0, 5, high_open=True))
    ml_ros: bool = True  # ML-ROS (Charte et al. 2015): clone samples of minority AUs before batching
    # at most this fraction of the training rows is cloned (Charte et al.'s 25 %)
    ml_ros_budget: float = field(default=0.25, metadata=NOT_NEGATIVE)
    selective_learning: bool = True  # per-batch masking and weighting of the BCE (Hand et al. 2018)
    # training subjects held out of member training to search the thresholds
    validation_subjects: int = field(default=3, metadata=NOT_NEGATIVE)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.aus or len(set(self.aus)) != len(self.aus):
            raise ValueError(f"au.aus must be a non-empty list without repeats, got {list(self.aus)}")
        if not self.members:
            raise ValueError("au.members must name at least one backbone")
        for spec in self.members:
            backbone, _, pretrained = str(spec).partition(":")
            if backbone not in BACKBONES:
                raise ValueError(f"au.members: unknown backbone {backbone!r} in {spec!r} "
                                 f"(choose from {', '.join(BACKBONES)})")
            if pretrained and pretrained not in BACKBONES[backbone].pretrained:
                choices = ", ".join(BACKBONES[backbone].pretrained) or "none"
                raise ValueError(f"au.members: {backbone} has no pretrained weights {pretrained!r} "
                                 f"(available: {choices})")

    def member_specs(self) -> list[tuple[str, str | None]]:
        """(backbone, pretrained or None) of each member, in order."""
        return [(b, p or None) for b, _, p in (str(spec).partition(":") for spec in self.members)]


@dataclass(frozen=True)
class MethodEntry:
    """A training method a config can name (`method = "..."`): the one place that declares it."""

    settings: type | None  # dataclass of its own section, named after the method; None: it has none
    implementation: str  # "module:class" of its train.methods.base.Method (train.methods builds it)


REGISTRY: dict[str, MethodEntry] = {
    "regression": MethodEntry(None, "train.methods.regression:Regression"),
    "saliency": MethodEntry(SaliencyConfig, "train.methods.saliency:Saliency"),
    "fn2en": MethodEntry(FN2ENConfig, "train.methods.fn2en:FaceNet2ExpNet"),
    "au": MethodEntry(AUConfig, "train.methods.au:AU"),
}
"""Every training method, by the name a config gives it; adding a method is its module and a line here."""

METHOD_SECTIONS: dict[str, type | None] = {name: entry.settings for name, entry in REGISTRY.items()}
"""Each training method and the dataclass of its own section ([<method>]), None for none."""


@dataclass(frozen=True)
class TrainConfig:
    """One training recipe: a row of Tables 1–2 of paper 000, a seed method, or the demo recipe.

    `settings` holds the method's own section (defaults when not given); it also reads as the section's
    name, e.g. `config.au` for method `au`.
    """

    name: str
    method: str = "regression"
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    settings: Any = None  # an instance of METHOD_SECTIONS[method]; None for a method without a section

    def __post_init__(self) -> None:
        expected = METHOD_SECTIONS.get(self.method)
        if self.settings is None and expected is not None:
            object.__setattr__(self, "settings", expected())
        if not isinstance(self.settings, expected or type(None)):
            raise TypeError(f"method {self.method!r} takes {expected.__name__ if expected else 'no'} "
                            f"settings, not {type(self.settings).__name__}")

    def __getattr__(self, name: str) -> Any:
        """The method's own section by its name (`config.au`); another method's section does not exist."""
        method = self.__dict__.get("method")
        if name in METHOD_SECTIONS and name == method:
            return self.settings
        raise AttributeError(f"a config of method {method!r} has no {name!r}")

    def backbones(self) -> list[str]:
        """The backbones the model is built of: the AU ensemble's members, else [model] backbone."""
        if isinstance(self.settings, AUConfig):
            return [backbone for backbone, _ in self.settings.member_specs()]
        return [self.model.backbone]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-safe) of every setting that applies to the method (its own section under the
        method's name), for run records and model cards: another method's defaults changing does not make a
        run look different."""
        values = asdict(self)
        settings = values.pop("settings")
        return values if settings is None else {**values, self.method: settings}


SECTIONS = {"model": ModelConfig, "loss": LossConfig, "sampling": SamplingConfig, "solver": SolverConfig,
            "align": AlignConfig}
"""Sections every method reads."""


def _section(cls: type, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: must be a table")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(known))})")
    try:
        return cls(**checked(cls, values))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def config_from_dict(data: dict[str, Any], where: str = "config") -> TrainConfig:
    """Build and validate a TrainConfig from parsed TOML (or a card's `config` dict)."""
    own = [name for name, settings in METHOD_SECTIONS.items() if settings is not None]
    unknown = sorted(set(data) - {"name", "method", *SECTIONS, *own})
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {', '.join(unknown)}")
    if not isinstance(data.get("name"), str):
        raise ConfigError(f"{where}: `name` (a string) is required")
    method = data.get("method", "regression")
    if not isinstance(method, str) or method not in METHOD_SECTIONS:
        raise ConfigError(f"{where}: unknown method {method!r} (choose from {', '.join(METHOD_SECTIONS)})")
    foreign = sorted(key for key in own if key in data and key != method)
    if foreign:
        raise ConfigError(f"{where}: section(s) {', '.join(foreign)} do not apply to method {method!r}")
    parts = {key: _section(cls, data.get(key, {}), f"{where} [{key}]") for key, cls in SECTIONS.items()}
    own_class = METHOD_SECTIONS[method]
    settings = None if own_class is None else _section(own_class, data.get(method, {}), f"{where} [{method}]")
    config = TrainConfig(name=data["name"], method=method, **parts, settings=settings)
    size = config.model.input_size
    for backbone in config.backbones():
        if size is not None and not BACKBONES[backbone].accepts(size):
            raise ConfigError(f"{where} [model]: input_size {list(size)} is not a size {backbone} takes "
                              f"({BACKBONES[backbone].input_sizes()})")
    return config


def load_config(path: str | Path) -> TrainConfig:
    """Read a training config TOML; a missing file or a bad setting raises ConfigError naming the file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a config file (not UTF-8 text)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError, or a number too long to read
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return config_from_dict(data, str(path))


