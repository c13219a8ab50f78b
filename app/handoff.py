"""The values that cross threads: captured frames going to the inference worker, analysed frames and
samples coming back to the GUI, the model the worker runs, and the clock that stamps them all (no Qt)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from engine.status import FrameStatus
from engine.types import Face

if TYPE_CHECKING:
    from engine.model_card import ModelCard

_START_WALL = time.time()
_START_MONOTONIC = time.monotonic()


def wall_clock() -> float:
    """Wall-clock seconds since the epoch that never go back (the monotonic clock, anchored at start-up)."""
    return _START_WALL + (time.monotonic() - _START_MONOTONIC)


@dataclass(frozen=True, slots=True)
class CapturedFrame:
    """A bed's frame waiting for analysis."""

    bed_id: str
    index: int
    t: float
    image: np.ndarray


class Sample(NamedTuple):
    """One analysed frame as the curve, the alarms and the record see it: score NaN unless status ok;
    `message` says more about the status (why the face's quality was too low, the model's error); the
    face's quality 0–1 (NaN without one)."""

    t: float
    score: float
    status: FrameStatus
    message: str
    quality: float = math.nan


@dataclass(frozen=True)
class AnalysedFrame:
    """A bed's newest analysed frame, for display: the image, the face found in it, its sample and, for a
    model with AUs, the AU probabilities of the face (AU number → 0..1; None without a scored face)."""

    bed_id: str
    image: np.ndarray
    face: Face | None
    sample: Sample
    aus: dict[int, float] | None = None


@dataclass(frozen=True)
class ModelInfo:
    """The model the inference worker runs, or why it runs none (error); au_thresholds: each AU's presence
    threshold (AU number → probability, the model's order), empty for a model without AUs; notice: why it
    is not the model the settings name (one line; "" when it is)."""

    path: str
    card: ModelCard | None = None
    backend: str = ""
    device: str = ""
    au_thresholds: dict[int, float] = field(default_factory=dict)
    error: str | None = None
    notice: str = ""
