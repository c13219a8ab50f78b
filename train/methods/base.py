"""What every training method gets and gives: a fold's training set in, a trained model out; the held-out
frames in, their pain scores (and the method's own held-out outputs) out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import torch

from engine.checkpoint import PainModel
from train.config import TrainConfig
from train.loop import ImageReader
from train.multilabel import AUScores
from train.unbc import FrameRecord


@dataclass(frozen=True)
class Frames:
    """Per-frame arrays of a data set, in its order."""

    subject: np.ndarray  # str
    sequence: np.ndarray  # str
    frame: np.ndarray  # int64
    level: np.ndarray  # int64, 0..5
    au_numbers: tuple[int, ...]
    aus: np.ndarray  # float32 (n, len(au_numbers)) FACS intensities; an AU not coded in a frame is 0

    @classmethod
    def of(cls, records: list[FrameRecord], au_numbers: tuple[int, ...]) -> Frames:
        """The arrays of `records`, with the FACS intensities of `au_numbers`."""
        return cls(np.array([r.subject for r in records], dtype=str),
                   np.array([r.sequence for r in records], dtype=str),
                   np.array([r.frame for r in records], dtype=np.int64),
                   np.array([r.level for r in records], dtype=np.int64),
                   au_numbers,
                   np.array([[r.aus.get(a, 0.0) for a in au_numbers] for r in records],
                            dtype=np.float32).reshape(len(records), len(au_numbers)))

    def take(self, rows: np.ndarray) -> Frames:
        """The frames at row numbers `rows`, in that order."""
        return Frames(self.subject[rows], self.sequence[rows], self.frame[rows], self.level[rows],
                      self.au_numbers, self.aus[rows])


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


@dataclass(frozen=True)
class HeldOut:
    """A fold's held-out frames (those with a detectable face), which its trained model predicts."""

    images: ImageReader  # dataset row numbers → aligned RGB uint8 crops (B, h, w, 3)
    rows: np.ndarray  # int64 dataset row numbers
    frames: Frames  # their per-frame arrays, aligned with `rows`


@dataclass(frozen=True)
class ReportExtras:
    """What a method's own held-out outputs add to a LOSO run's metrics.json and report (default: nothing)."""

    metrics: dict[str, Any] = field(default_factory=dict)  # entries added to metrics.json
    aus: AUScores | None = None  # held-out AU metrics: the report's AU section (train.report.write_report)
    thresholds: np.ndarray | None = None  # the mean per-AU thresholds over the folds, for that section


ModelT = TypeVar("ModelT", bound=PainModel)


class Method(Protocol[ModelT]):
    """A training method: how a config's model (a ModelT) is built, trained on one fold and run on its
    held-out subject. train.config.REGISTRY names each method's class; train.methods.METHODS holds the
    objects."""

    def au_numbers(self, config: TrainConfig) -> tuple[int, ...]:
        """The AUs whose FACS intensities its training and held-out frames carry (`Frames.of`)."""
        ...

    def new_model(self, config: TrainConfig) -> ModelT:
        """A freshly initialised model (seeded from the config: every fold starts from the same weights)."""
        ...

    def train(self, model: ModelT, config: TrainConfig, data: TrainingSet, *, device: torch.device,
              iterations: int, folder: Path, progress: str | None) -> None:
        """Train `model` in place; `iterations` is the final stage's (solver.iterations unless overridden).

        `folder` is the fold's folder: snapshots there let a killed run resume; `progress` labels progress
        bars (None: silent). The model is left in eval mode.
        """
        ...

    def predict_held_out(self, model: ModelT, config: TrainConfig, held_out: HeldOut, folder: Path, *,
                         device: torch.device) -> np.ndarray:
        """Pain scores (n,) of the held-out frames, in order; the method's own held-out outputs, if any, go
        into the fold's `folder`."""
        ...

    def merge_held_out(self, out: Path, folds: list[str]) -> ReportExtras:
        """Merge the own held-out outputs of the finished `folds` (out/folds/<fold>/) into the run folder
        `out`; return what they add to its metrics and report."""
        ...
