"""Model cards: what a painmon checkpoint is, read from its safetensors metadata without torch.

A checkpoint (engine.checkpoint writes and loads its weights with torch) carries the card as JSON metadata,
and may carry the description of its training faces and its AU thresholds as arrays: all three are read
here with numpy, so a runtime without torch can check and describe a model.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open

from engine.applicability import UNKNOWN, Applicability
from engine.backbone_specs import BACKBONES, BackboneSpec
from engine.errors import ModelFileError
from engine.schema import POSITIVE, SchemaError, checked, within

CARD_KEY = "painmon.model_card"
APPLICABILITY_PREFIX = "applicability."
APPLICABILITY_MEAN = APPLICABILITY_PREFIX + "mean"
APPLICABILITY_WHITENING = APPLICABILITY_PREFIX + "whitening"
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


def read_metadata(path: Path) -> tuple[ModelCard, dict[str, str]]:
    """The card and the whole metadata of a checkpoint, or a ModelFileError naming the path."""
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    try:
        with safe_open(path, framework="np") as handle:
            metadata = handle.metadata() or {}
        if metadata.get(FORMAT_KEY) != FORMAT or CARD_KEY not in metadata:
            raise ModelFileError(f"{path} is a safetensors file but not a painmon checkpoint (no model card)")
        return ModelCard.from_json(metadata[CARD_KEY]), metadata
    except (SafetensorError, OSError) as error:
        raise ModelFileError(f"{path} is damaged or not a safetensors file: {error}") from error
    except (ValueError, TypeError, KeyError) as error:
        raise ModelFileError(f"{path} has an invalid model card: {error}") from error


def read_card(path: str | Path) -> ModelCard:
    """The model card of a checkpoint, without reading its weights."""
    return read_metadata(Path(path))[0]


def read_applicability(path: str | Path) -> Applicability | None:
    """The description of a checkpoint's training faces, read without the rest of the weights; None when it
    has none (applicability unknown). ModelFileError for a bad file."""
    path = Path(path)
    card = read_card(path)
    if not card.applicability:
        return None
    try:
        with safe_open(path, framework="np") as handle:
            mean = handle.get_tensor(APPLICABILITY_MEAN)
            whitening = handle.get_tensor(APPLICABILITY_WHITENING)
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
        with safe_open(path, framework="np") as handle:
            thresholds = handle.get_tensor("thresholds").tolist()
    except (SafetensorError, OSError) as error:
        raise ModelFileError(f"{path} has AUs {card.aus} but no readable AU thresholds: {error}") from error
    if len(thresholds) != len(card.aus):
        raise ModelFileError(f"{path} has {len(thresholds)} AU thresholds for {len(card.aus)} AUs")
    return dict(zip(card.aus, thresholds, strict=True))
