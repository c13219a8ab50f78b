"""Held-out AU outputs of an AU model's LOSO folds: folds/<subject>/aus.csv, merged into AU metrics.

An aus.csv has one row per frame: subject, sequence, frame, then for each AU `AU<n>_probability` (the
ensemble's mean probability), `AU<n>_present` (1 when the probability reaches the fold model's threshold)
and `AU<n>_label` (1 present, 0 absent, empty when not coded).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import safe_open

from engine.files import replacing
from train.evaluate import PredictionsFileError
from train.multilabel import AUScores, au_scores

_PROBABILITY = re.compile(r"AU(\d+)_probability")


@dataclass(frozen=True)
class AUPredictions:
    """Per-frame AU probabilities, presence calls and labels of held-out frames."""

    subject: np.ndarray  # str
    sequence: np.ndarray  # str
    frame: np.ndarray  # int64
    au_numbers: tuple[int, ...]
    probability: np.ndarray  # float64 (n, K)
    present: np.ndarray  # bool (n, K): probability ≥ the fold model's threshold
    label: np.ndarray  # float64 (n, K): 1, 0, NaN = not coded

    def scores(self) -> AUScores:
        """Accuracy, F1 and their mean per AU over these frames."""
        return au_scores(self.present, self.label, self.au_numbers)

    @classmethod
    def concatenate(cls, parts: list[AUPredictions]) -> AUPredictions:
        """The frames of several parts (with the same AUs), in order."""
        if len({p.au_numbers for p in parts}) != 1:
            raise PredictionsFileError("aus.csv files of one run name different AUs")
        arrays = {name: np.concatenate([getattr(p, name) for p in parts])
                  for name in ("subject", "sequence", "frame", "probability", "present", "label")}
        return cls(au_numbers=parts[0].au_numbers, **arrays)


def write_au_predictions(path: Path, predictions: AUPredictions) -> None:
    """Write an aus.csv (atomically; probabilities round-trip exactly)."""
    with replacing(path) as scratch, scratch.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["subject", "sequence", "frame",
                         *(f"AU{a}_{part}" for a in predictions.au_numbers
                           for part in ("probability", "present", "label"))])
        for i in range(len(predictions.frame)):
            cells = []
            for k in range(len(predictions.au_numbers)):
                label = predictions.label[i, k]
                cells += [repr(float(predictions.probability[i, k])), int(predictions.present[i, k]),
                          "" if math.isnan(label) else int(label)]
            frame = int(predictions.frame[i])
            writer.writerow([predictions.subject[i], predictions.sequence[i], frame, *cells])


def read_au_predictions(path: Path) -> AUPredictions:
    """Read an aus.csv written by write_au_predictions; a damaged file raises PredictionsFileError."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            rows = list(reader)
        au_numbers = tuple(int(m.group(1)) for m in map(_PROBABILITY.fullmatch, header) if m)
        expected = ["subject", "sequence", "frame",
                    *(f"AU{a}_{part}" for a in au_numbers for part in ("probability", "present", "label"))]
        if header != expected or not au_numbers:
            raise ValueError("unexpected columns")
        values = np.array([[float(v) if v else np.nan for v in row[3:]] for row in rows],
                          dtype=np.float64).reshape(len(rows), len(au_numbers), 3)
        subject, sequence = (np.array([r[i] for r in rows], dtype=str) for i in (0, 1))
        frame = np.array([int(r[2]) for r in rows], dtype=np.int64)
        return AUPredictions(subject, sequence, frame, au_numbers, values[:, :, 0], values[:, :, 1] == 1,
                             values[:, :, 2])
    except (OSError, StopIteration, ValueError, IndexError) as error:
        raise PredictionsFileError(f"{path}: not a readable aus.csv ({error})") from None


def read_thresholds(checkpoint: Path) -> np.ndarray:
    """The per-AU thresholds stored in an AU model checkpoint (without loading its weights)."""
    with safe_open(str(checkpoint), framework="np") as handle:
        return handle.get_tensor("thresholds")


def au_metrics_json(scores: AUScores, thresholds: dict[str, np.ndarray]) -> dict:
    """AU metrics for metrics.json: per AU and averaged over AUs, with each fold's thresholds; NaN → null."""
    def number(value: float) -> float | None:
        return None if math.isnan(value) else float(value)

    per_au = {
        f"AU{a}": {"accuracy": number(scores.accuracy[k]), "f1": number(scores.f1[k]),
                   "mean": number(scores.mean[k]), "positives": int(scores.positives[k]),
                   "frames": int(scores.known[k])}
        for k, a in enumerate(scores.au_numbers)
    }
    return {"per_au": per_au, "average": {name: number(v) for name, v in scores.average().items()},
            "thresholds": {fold: {f"AU{a}": float(t) for a, t in zip(scores.au_numbers, values, strict=True)}
                           for fold, values in thresholds.items()}}


def merge_fold_aus(out: Path, subjects: list[str]) -> tuple[AUPredictions, dict[str, np.ndarray]] | None:
    """The held-out AU outputs of the finished folds (out/folds/<subject>/aus.csv) and each fold's
    thresholds (from its model.safetensors); None when no fold has an aus.csv."""
    folders = [out / "folds" / s for s in subjects if (out / "folds" / s / "aus.csv").exists()]
    if not folders:
        return None
    merged = AUPredictions.concatenate([read_au_predictions(f / "aus.csv") for f in folders])
    return merged, {f.name: read_thresholds(f / "model.safetensors") for f in folders}
