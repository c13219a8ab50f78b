"""Value types shared by every engine stage, and the face detectors' interface (no Qt, no torch)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from engine.status import FrameStatus


@dataclass(frozen=True)
class Face:
    """One detected face in frame pixel coordinates.

    box: (4,) float32 x1, y1, x2, y2. landmarks: (5, 2) float32 x, y in MTCNN order (image-left eye,
    image-right eye, nose, left mouth corner, right mouth corner). prob: detector confidence 0..1.
    """

    box: np.ndarray
    landmarks: np.ndarray
    prob: float


class Detector(Protocol):
    """An MTCNN face detector on BGR frames: engine.mtcnn.OrtFaceDetector (ONNX Runtime, no torch) or
    engine.detector.FaceDetector (torch, TensorRT engines)."""

    def detect(self, frame_bgr: np.ndarray, min_face_size: int = 40) -> list[Face]:
        """All faces of about `min_face_size` pixels and larger, most confident first."""
        ...

    def refine(self, frame_bgr: np.ndarray, box: np.ndarray) -> Face | None:
        """The face near a known box (x1, y1, x2, y2) by RNet and ONet alone; None if either rejects it."""
        ...

    def refine_many(self, items: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[Face | None]:
        """`refine` for each (frame, box), in order."""
        ...


@dataclass
class FrameResult:
    """Everything the engine knows about one frame.

    score is NaN unless status is OK. aligned is the RGB uint8 crop fed to the model (kept only on request).
    aus: the probability of each action unit (AU number → 0..1, the model's order) for a scored frame of a
    model with an AU head; None otherwise. quality (0–1) and quality_reason (engine.quality; "" when the
    face is usable) for a located face, NaN without one; applicability (engine.applicability: ≤ 1 inside
    the model's training faces) for a face the model saw, NaN without one or for a model that cannot tell.
    """

    index: int
    timestamp: float
    status: FrameStatus
    score: float = float("nan")
    face: Face | None = None
    aligned: np.ndarray | None = None
    aus: dict[int, float] | None = None
    quality: float = float("nan")
    quality_reason: str = ""
    applicability: float = float("nan")
