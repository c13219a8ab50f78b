"""The description of a model's training faces (engine.applicability), from the data sets it was trained on.

`painmon train export` adds it to every deployable checkpoint from its run's data set; `painmon train
describe MODEL --data DIR [--data DIR ...] --out MODEL` adds it to a checkpoint made before, or describes a
model with more faces of the same kind than it was trained on (the demo model: more rendered identities, see
docs/ARCHITECTURE.md). Every frame with a detectable face is aligned as for training (cached), run through
the model once, and the description is calibrated on held-out groups of subjects (engine.applicability).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.applicability import COVERAGE, Applicability, describe
from engine.checkpoint import PainModel, load_checkpoint, save_checkpoint
from engine.errors import PainmonError
from engine.model_card import ModelCard
from engine.model_onnx import beside
from engine.onnx_export import write_beside
from train.align_cache import AlignSettings, build_cache
from train.loop import to_input
from train.loso import TWIN_MARKER
from train.unbc import load_unbc

MIN_FACE_SIZE = 40
"""Smallest face the alignment looks for when the model's config does not say (the training default)."""


def data_name(root: Path) -> str:
    """How a data set is named in a card: the twin's recipe, or the folder."""
    marker = root / TWIN_MARKER
    if marker.exists():
        twin = json.loads(marker.read_text())
        return (f"synthetic twin (painmon train synth --subjects {twin['subjects']} --frames "
                f"{twin['frames_per_subject']} --seed {twin['seed']})")
    return str(root.resolve())


@torch.no_grad()
def face_features(model: PainModel, crops: np.ndarray, *, device: torch.device, batch_size: int = 256
                  ) -> np.ndarray:
    """The features that describe faces (engine.outputs.FEATURES) of aligned RGB crops (N, h, w, 3)."""
    model.to(device).eval()
    parts = [model.forward_with_features(to_input(crops[start:start + batch_size], device))[-1].float()
             for start in range(0, len(crops), batch_size)]
    return torch.cat(parts).cpu().numpy()


def describe_faces(model: PainModel, card: ModelCard, data: list[Path], *, device: torch.device,
                   workers: int | None = None, progress: bool = True) -> tuple[Applicability, dict[str, Any]]:
    """The description of the faces of these data sets (UNBC-McMaster layout) in the model's feature space,
    and the card's record of it."""
    min_face = int(card.config.get("align", {}).get("min_face_size", MIN_FACE_SIZE))
    features, subjects = [], []
    for number, root in enumerate(data):
        dataset = load_unbc(root, progress=progress)
        cache = build_cache(dataset.frames, dataset.root, AlignSettings(card.input_size, min_face),
                            workers=workers, progress=progress)
        rows = np.flatnonzero(cache.found)
        features.append(face_features(model, cache.crops(rows), device=device))
        subjects += [f"{number}/{dataset.frames[row].subject}" for row in rows]  # identities per data set
    description = describe(np.concatenate(features), np.array(subjects))
    record = {"threshold": description.threshold, "coverage": COVERAGE, "frames": len(subjects),
              "subjects": len(set(subjects)), "data": [data_name(root) for root in data],
              "features": "texture of the backbone's early stages (engine.backbones)"}
    return description, record


def describe_checkpoint(model_path: Path, data: list[Path], out: Path, *, device: torch.device) -> Path:
    """Write `model_path` with the description of the faces of `data` to `out`, and its ONNX graph beside
    it (engine.onnx_export.write_beside); return `out`."""
    model, card = load_checkpoint(model_path)
    description, card.applicability = describe_faces(model, card, data, device=device)
    save_checkpoint(out, model.cpu(), card, description)
    write_beside(out)
    return out


def run(args: argparse.Namespace) -> int:
    """`painmon train describe MODEL --data DIR [--data DIR ...] --out MODEL [--device D]`."""
    from train.loop import resolve_device

    data = [Path(d) for d in args.data]
    missing = [str(d) for d in data if not d.is_dir()]
    if missing:
        raise PainmonError(f"data set folder not found: {', '.join(missing)}")
    out = describe_checkpoint(Path(args.model), data, Path(args.out), device=resolve_device(args.device))
    applicability = load_checkpoint(out)[1].applicability
    print(f"described {applicability['frames']} faces of {applicability['subjects']} subjects "
          f"(threshold {applicability['threshold']:.2f}); wrote {out} and {beside(out).name} beside it")
    return 0
