"""painmon checkpoints: safetensors weights with the model card (engine.model_card) as JSON metadata;
loading runs no code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from engine.applicability import Applicability
from engine.au import AUPainModel
from engine.errors import ModelFileError
from engine.files import write_atomically
from engine.model import PainRegressor
from engine.model_card import (
    APPLICABILITY_MEAN,
    APPLICABILITY_PREFIX,
    APPLICABILITY_WHITENING,
    CARD_KEY,
    FORMAT,
    FORMAT_KEY,
    ModelCard,
    read_metadata,
)

PainModel = PainRegressor | AUPainModel
"""What a checkpoint holds: a pain regressor, or an AU ensemble whose pain output is PSPI from its AUs."""


def card_for(model: PainModel, **details: Any) -> ModelCard:
    """A card whose architecture fields are taken from `model`; `details` fill in the rest."""
    members = model.member_specs() if isinstance(model, AUPainModel) else []
    return ModelCard(backbone=model.backbone_name, pretrained=model.pretrained, input_size=model.input_size,
                     mean=float(model.mean), std=float(model.std), aus=list(model.aus),
                     members=[{"backbone": b, "pretrained": p} for b, p in members], **details)


def _check_card_matches(model: PainModel, card: ModelCard) -> None:
    expected = card_for(model, name="", version="", trained_on="")
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
        tensors[APPLICABILITY_MEAN] = torch.from_numpy(applicability.mean)
        tensors[APPLICABILITY_WHITENING] = torch.from_numpy(applicability.whitening)
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


def _read(path: Path) -> tuple[ModelCard, dict[str, torch.Tensor]]:
    """The card and the CPU tensors of a checkpoint, or a ModelFileError naming the path."""
    card, _ = read_metadata(path)
    try:
        return card, load_file(path)
    except (SafetensorError, OSError) as error:
        raise ModelFileError(f"{path} is damaged or not a safetensors file: {error}") from error


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
    card, tensors = _read(path)
    tensors = {key: value for key, value in tensors.items() if not key.startswith(APPLICABILITY_PREFIX)}
    _check_weights(path, card, tensors)
    try:
        model = _build(card, tensors)
        model.load_state_dict(tensors, strict=True)
    except (KeyError, ValueError, RuntimeError) as error:
        raise ModelFileError(f"{path} does not match its model card ({card.backbone}): {error}") from error
    return model.to(device).eval(), card
