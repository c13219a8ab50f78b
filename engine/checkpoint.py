"""painmon checkpoints: safetensors weights with the model card as JSON metadata (loading runs no code)."""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from engine.applicability import UNKNOWN, Applicability
from engine.au import AUPainModel
from engine.backbones import BACKBONES, BackboneSpec
from engine.errors import ModelFileError
from engine.files import write_atomically
from engine.model import PainRegressor
from engine.schema import POSITIVE, SchemaError, checked, within

PainModel = PainRegressor | AUPainModel
"""What a checkpoint holds: a pain regressor, or an AU ensemble whose pain output is PSPI from its AUs."""

CARD_KEY = "painmon.model_card"
_APPLICABILITY = "applicability."
_APPLICABILITY_MEAN = _APPLICABILITY + "mean"
_APPLICABILITY_WHITENING = _APPLICABILITY + "whitening"
FORMAT_KEY = "painmon.format"
FORMAT = "painmon-checkpoint/1"


FACS_AUS = within(1, 64)
"""FACS action unit numbers (1–46 face, 50–58 head, 61–64 eyes)."""


@dataclass
class ModelCard:
    """What a checkpoint is: architecture and preprocessing, provenance, intended use and LOSO metrics.

    Each field's type and range is the schema a card read from a file is held to (engine.schema), with the
    rules between fields in `problem`: a new field is a line here (and a rule there if it needs one).
    """

    name: str
    version: str
    backbone: str
    pretrained: str | None
    input_size: tuple[int, int]
    mean: float
    std: float = field(metadata=POSITIVE)
    trained_on: str
    clinical_use: bool = False
    intended_use: str = "research and demonstration only; not a medical device"
    metrics: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    aus: list[int] = field(default_factory=list, metadata=FACS_AUS)  # AU outputs, in order; empty: no AU head
    members: list[dict[str, Any]] = field(default_factory=list)  # AU ensemble: backbone, pretrained of each
    # How the description of the training faces (engine.applicability; arrays in the file) was made, with
    # its threshold; empty: the checkpoint has none and applicability is unknown.
    applicability: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @classmethod
    def for_model(cls, model: PainModel, **details: Any) -> ModelCard:
        """A card whose architecture fields are taken from `model`; `details` fill in the rest."""
        members = model.member_specs() if isinstance(model, AUPainModel) else []
        return cls(
            backbone=model.backbone_name,
            pretrained=model.pretrained,
            input_size=model.input_size,
            mean=float(model.mean),
            std=float(model.std),
            aus=list(model.aus),
            members=[{"backbone": b, "pretrained": p} for b, p in members],
            **details,
        )

    def to_json(self) -> str:
        """The card as a JSON object string."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        """A card written by to_json, held to its schema; ValueError naming the field for anything else."""
        try:
            data = json.loads(text)
        except RecursionError:
            raise ValueError("model card is nested too deeply") from None
        if not isinstance(data, dict):
            raise ValueError("model card is not a JSON object")
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"model card has unknown fields {sorted(unknown)}")
        missing = [f.name for f in fields(cls)
                   if f.default is MISSING and f.default_factory is MISSING and f.name not in data]
        if missing:
            raise ValueError(f"model card lacks {', '.join(missing)}")
        card = cls(**checked(cls, data))
        problem = card.problem()
        if problem is not None:
            raise SchemaError(problem)
        return card

    def applicability_text(self) -> str:
        """For users: whose faces the model's description covers and its threshold, or that its
        applicability is unknown (engine.applicability.UNKNOWN)."""
        if not self.applicability:
            return UNKNOWN
        frames, subjects = (self.applicability.get(key) for key in ("frames", "subjects"))
        return (f"scores only faces like the {_count(frames)} faces of {_count(subjects)} subjects it was "
                f"described with (Mahalanobis threshold "
                f"{float(self.applicability.get('threshold', math.nan)):.1f})")

    def problem(self) -> str | None:
        """What is wrong between the fields (the schema checks each alone), or None: a backbone painmon has,
        with its weights and normalisation; AUs and members together or not at all; an input size every
        backbone takes, and the size the model was trained at."""
        spec = BACKBONES.get(self.backbone)
        if spec is None:
            return f"backbone {self.backbone!r} is not one of {', '.join(BACKBONES)}"
        for check in (self._weights_problem, self._ensemble_problem, self._size_problem):
            problem = check(spec)
            if problem is not None:
                return problem
        return None

    def _weights_problem(self, spec: BackboneSpec) -> str | None:
        if self.pretrained is not None and self.pretrained not in spec.pretrained:
            return f"pretrained {self.pretrained!r} is not a weight set of {self.backbone}"
        if (self.mean, self.std) != (spec.mean, spec.std):
            return (f"mean, std {self.mean:g}, {self.std:g} are not the input normalisation of "
                    f"{self.backbone} ({spec.mean:g}, {spec.std:g})")
        return None

    def _ensemble_problem(self, spec: BackboneSpec) -> str | None:
        if bool(self.aus) != bool(self.members):
            return "aus and members go together (an AU ensemble); a pain regressor has neither"
        if len(set(self.aus)) != len(self.aus):
            return f"aus {self.aus} repeat an AU"
        problem = next(filter(None, map(_member_problem, range(len(self.members)), self.members)), None)
        if problem is None and self.members and (
                (self.members[0]["backbone"], self.members[0]["pretrained"]) != (spec.name, self.pretrained)):
            return "members[0] is not the card's backbone and pretrained weights"
        return problem

    def _size_problem(self, spec: BackboneSpec) -> str | None:
        for name in {spec.name, *(m["backbone"] for m in self.members)}:
            if not BACKBONES[name].accepts(self.input_size):
                return (f"input_size {list(self.input_size)} is not a size {name} takes "
                        f"({BACKBONES[name].input_sizes()})")
        model = self.config.get("model")
        if isinstance(model, dict) and "input_size" in model:
            trained = list(spec.input_size) if model["input_size"] is None else model["input_size"]
            if trained != list(self.input_size):
                return (f"input_size {list(self.input_size)} is not the size the model was trained at "
                        f"({trained!r}, config model.input_size)")
        return None


def _count(value: Any) -> str:
    """A count from a card as people read it (13,466); "?" when the card has none."""
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "?"


def _member_problem(index: int, member: dict[str, Any]) -> str | None:
    """What is wrong with one AU ensemble member's entry {"backbone": ..., "pretrained": ...}, or None."""
    where = f"members[{index}]"
    if set(member) != {"backbone", "pretrained"}:
        return f"{where} must have exactly backbone and pretrained, got {sorted(member)}"
    spec = BACKBONES.get(member["backbone"]) if isinstance(member["backbone"], str) else None
    if spec is None:
        return f"{where}.backbone {member['backbone']!r} is not one of {', '.join(BACKBONES)}"
    if member["pretrained"] is not None and member["pretrained"] not in spec.pretrained:
        return f"{where}.pretrained {member['pretrained']!r} is not a weight set of {spec.name}"
    return None


def _check_card_matches(model: PainModel, card: ModelCard) -> None:
    expected = ModelCard.for_model(model, name="", version="", trained_on="")
    for name in ("backbone", "pretrained", "input_size", "mean", "std", "aus", "members"):
        if getattr(card, name) != getattr(expected, name):
            found, wanted = getattr(card, name), getattr(expected, name)
            raise ValueError(f"model card says {name}={found!r} but the model has {wanted!r}")


def save_checkpoint(path: str | Path, model: PainModel, card: ModelCard,
                    applicability: Applicability | None = None) -> Path:
    """Write the model's weights, its card and (when given) the description of its training faces to a
    safetensors file (atomically); return the path. The card's `applicability` field records the
    description's threshold (and must be filled in with it; empty without one)."""
    _check_card_matches(model, card)
    if (applicability is None) != (not card.applicability):
        raise ValueError("the card's applicability field and the description must come together")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    if applicability is not None:
        if card.applicability.get("threshold") != applicability.threshold:
            raise ValueError("the card's applicability threshold is not the description's")
        tensors[_APPLICABILITY_MEAN] = torch.from_numpy(applicability.mean)
        tensors[_APPLICABILITY_WHITENING] = torch.from_numpy(applicability.whitening)
    metadata = {FORMAT_KEY: FORMAT, CARD_KEY: card.to_json()}
    write_atomically(path, _sorted_metadata(save(tensors, metadata=metadata)))
    return path


def _sorted_metadata(data: bytes) -> bytes:
    """safetensors bytes with the header's metadata entries in sorted order, so that the same checkpoint is
    the same bytes in every process (the library writes them in the order of a randomly seeded hash map)."""
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)  # the tensors' data starts 8-byte aligned
    return len(text).to_bytes(8, "little") + text + data[8 + size:]


def _read(path: Path, with_tensors: bool) -> tuple[ModelCard, dict[str, torch.Tensor]]:
    """The card and (optionally) the CPU tensors of a checkpoint, or a ModelFileError naming the path."""
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    try:
        with safe_open(path, framework="pt") as handle:
            metadata = handle.metadata() or {}
        if metadata.get(FORMAT_KEY) != FORMAT or CARD_KEY not in metadata:
            raise ModelFileError(f"{path} is a safetensors file but not a painmon checkpoint (no model card)")
        card = ModelCard.from_json(metadata[CARD_KEY])
        tensors = load_file(path) if with_tensors else {}
    except (SafetensorError, OSError) as error:
        raise ModelFileError(f"{path} is damaged or not a safetensors file: {error}") from error
    except (ValueError, TypeError, KeyError) as error:
        raise ModelFileError(f"{path} has an invalid model card: {error}") from error
    return card, tensors


def read_card(path: str | Path) -> ModelCard:
    """The model card of a checkpoint, without reading its weights."""
    return _read(Path(path), with_tensors=False)[0]


def _build(card: ModelCard, tensors: dict[str, torch.Tensor]) -> PainModel:
    """The untrained architecture the card describes (pretrained weights are never fetched)."""
    model: PainModel
    if card.members:
        model = AUPainModel([(m["backbone"], None) for m in card.members], card.aus, card.input_size)
        for member, spec in zip(model.members, card.members, strict=True):
            member.pretrained = spec["pretrained"]
    else:
        embed = tensors.get("embed.1.weight")  # FC backbone → embed_dim; its shape is checked with the others
        embed_dim = embed.shape[0] if embed is not None and embed.ndim == 2 and embed.shape[0] > 0 else 50
        model = PainRegressor(card.backbone, None, card.input_size, embed_dim=embed_dim)
    model.pretrained = card.pretrained
    return model


def _check_weights(path: Path, card: ModelCard, tensors: dict[str, torch.Tensor]) -> None:
    """ModelFileError unless the tensors are exactly the weights of the model the card describes (names,
    shapes, types: compared with that model built without memory, on torch's meta device) and every value
    is finite, the AU thresholds probabilities."""
    with torch.device("meta"):
        expected = _build(card, tensors).state_dict()
    mismatch = f"{path} does not match its model card ({card.backbone})"
    wanted_names, found_names = set(expected), set(tensors)
    for what, names in (("lacks", wanted_names - found_names), ("has", found_names - wanted_names)):
        if names:
            raise ModelFileError(f"{mismatch}: it {what} tensor {min(names)}" + _more(len(names)))
    for name, wanted in expected.items():
        found = tensors[name]
        if (found.shape, found.dtype) != (wanted.shape, wanted.dtype):
            raise ModelFileError(f"{mismatch}: tensor {name} is {found.dtype} {list(found.shape)}, the "
                                 f"card's model has {wanted.dtype} {list(wanted.shape)}")
        if found.is_floating_point() and not bool(torch.isfinite(found).all()):
            raise ModelFileError(f"{path} is damaged: tensor {name} holds NaN or infinite values")
    if card.aus and not bool(((tensors["thresholds"] >= 0) & (tensors["thresholds"] <= 1)).all()):
        raise ModelFileError(f"{path} is damaged: its AU thresholds are not probabilities (0..1)")


def _more(count: int) -> str:
    return f" (and {count - 1} more)" if count > 1 else ""


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[PainModel, ModelCard]:
    """Load a checkpoint into an eval-mode model on `device`; never downloads pretrained weights.

    Raises ModelFileError naming the path for a missing, damaged or foreign file.
    """
    path = Path(path)
    card, tensors = _read(path, with_tensors=True)
    tensors = {key: value for key, value in tensors.items() if not key.startswith(_APPLICABILITY)}
    _check_weights(path, card, tensors)
    try:
        model = _build(card, tensors)
        model.load_state_dict(tensors, strict=True)
    except (KeyError, ValueError, RuntimeError) as error:
        raise ModelFileError(f"{path} does not match its model card ({card.backbone}): {error}") from error
    return model.to(device).eval(), card


def read_applicability(path: str | Path) -> Applicability | None:
    """The description of a checkpoint's training faces, read without the rest of the weights; None when it
    has none (applicability unknown). ModelFileError for a bad file."""
    path = Path(path)
    card = read_card(path)
    if not card.applicability:
        return None
    try:
        with safe_open(path, framework="np") as handle:
            mean = handle.get_tensor(_APPLICABILITY_MEAN)
            whitening = handle.get_tensor(_APPLICABILITY_WHITENING)
        threshold = float(card.applicability["threshold"])
    except (SafetensorError, OSError, KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{path} has a damaged description of its training faces: {error}") from error
    if (mean.ndim != 1 or whitening.shape != (len(mean), len(mean)) or not threshold > 0
            or not (np.isfinite(mean).all() and np.isfinite(whitening).all() and np.isfinite(threshold))):
        raise ModelFileError(f"{path} has a malformed description of its training faces")
    return Applicability(mean, whitening, threshold)


def read_au_thresholds(path: str | Path) -> dict[int, float]:
    """Each AU's presence threshold (AU number → probability), in the model's AU order, read without the
    rest of the weights; empty for a model without AUs. ModelFileError for a bad file."""
    path = Path(path)
    card = read_card(path)
    if not card.aus:
        return {}
    try:
        with safe_open(path, framework="pt") as handle:
            thresholds = handle.get_tensor("thresholds").tolist()
    except (SafetensorError, OSError) as error:
        raise ModelFileError(f"{path} has AUs {card.aus} but no readable AU thresholds: {error}") from error
    if len(thresholds) != len(card.aus):
        raise ModelFileError(f"{path} has {len(thresholds)} AU thresholds for {len(card.aus)} AUs")
    return dict(zip(card.aus, thresholds, strict=True))
