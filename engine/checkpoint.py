"""painmon checkpoints: safetensors weights with the model card as JSON metadata (loading runs no code)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from engine.applicability import Applicability
from engine.au import AUPainModel
from engine.errors import ModelFileError
from engine.files import replacing
from engine.model import PainRegressor

PainModel = PainRegressor | AUPainModel
"""What a checkpoint holds: a pain regressor, or an AU ensemble whose pain output is PSPI from its AUs."""

CARD_KEY = "painmon.model_card"
_APPLICABILITY = "applicability."
_APPLICABILITY_MEAN = _APPLICABILITY + "mean"
_APPLICABILITY_WHITENING = _APPLICABILITY + "whitening"
FORMAT_KEY = "painmon.format"
FORMAT = "painmon-checkpoint/1"


@dataclass
class ModelCard:
    """What a checkpoint is: architecture and preprocessing, provenance, intended use and LOSO metrics."""

    name: str
    version: str
    backbone: str
    pretrained: str | None
    input_size: tuple[int, int]
    mean: float
    std: float
    trained_on: str
    clinical_use: bool = False
    intended_use: str = "research and demonstration only; not a medical device"
    metrics: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    aus: list[int] = field(default_factory=list)  # the AU outputs, in order; empty: no AU head
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
        """Parse a card written by to_json; raises ValueError (or TypeError) for anything else."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("model card is not a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"model card has unknown fields {sorted(unknown)}")
        data["input_size"] = tuple(data["input_size"])
        return cls(**data)


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
    with replacing(path) as scratch:
        save_file(tensors, scratch, metadata={FORMAT_KEY: FORMAT, CARD_KEY: card.to_json()})
    return path


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
        embed_dim = tensors["embed.1.weight"].shape[0]
        model = PainRegressor(card.backbone, None, card.input_size, embed_dim=embed_dim)
    model.pretrained = card.pretrained
    return model


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[PainModel, ModelCard]:
    """Load a checkpoint into an eval-mode model on `device`; never downloads pretrained weights.

    Raises ModelFileError naming the path for a missing, damaged or foreign file.
    """
    path = Path(path)
    card, tensors = _read(path, with_tensors=True)
    tensors = {key: value for key, value in tensors.items() if not key.startswith(_APPLICABILITY)}
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
    if mean.ndim != 1 or whitening.shape != (len(mean), len(mean)) or not threshold > 0:
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
