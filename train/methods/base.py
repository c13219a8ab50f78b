"""What every training method gets and gives: a fold's training set in, a trained model out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from engine.checkpoint import PainModel
from train.config import TrainConfig
from train.loop import ImageReader


@dataclass(frozen=True)
class TrainingSet:
    """The frames a fold trains on, in temporal order; every per-frame array is aligned with `rows`."""

    images: ImageReader  # dataset row numbers → aligned RGB uint8 crops (B, h, w, 3)
    rows: np.ndarray  # int64 dataset row numbers
    levels: np.ndarray  # int64 pain levels 0..5
    subjects: np.ndarray  # str
    au_numbers: tuple[int, ...]  # the columns of `aus`
    # float32 (n, len(au_numbers)) FACS intensities (AU43 0/1); NaN = unknown (UNBC-McMaster codes every
    # frame: an AU missing from a frame's FACS file is 0, never NaN)
    aus: np.ndarray
    landmarks: np.ndarray  # float32 (n, 5, 2) the five MTCNN landmarks in crop pixels (x, y)

    def __post_init__(self) -> None:
        n = len(self.rows)
        for name in ("levels", "subjects", "aus", "landmarks"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"TrainingSet.{name} has {len(getattr(self, name))} rows, rows has {n}")

    def subset(self, keep: np.ndarray) -> TrainingSet:
        """The frames at positions (or boolean mask) `keep`, in the same order."""
        return TrainingSet(self.images, self.rows[keep], self.levels[keep], self.subjects[keep],
                           self.au_numbers, self.aus[keep], self.landmarks[keep])


class Method(Protocol):
    """A training method: how a config's model is built and trained on one fold."""

    def new_model(self, config: TrainConfig) -> PainModel:
        """A freshly initialised model (seeded from the config: every fold starts from the same weights)."""
        ...

    def train(self, model: PainModel, config: TrainConfig, data: TrainingSet, *, device: torch.device,
              iterations: int, folder: Path, progress: str | None) -> None:
        """Train `model` in place; `iterations` is the final stage's (solver.iterations unless overridden).

        `folder` is the fold's folder: snapshots there let a killed run resume; `progress` labels progress
        bars (None: silent). The model is left in eval mode.
        """
        ...
