"""Following one patient's face through a video stream.

Most frames only refine the previous box with MTCNN's later stages (`FaceDetector.refine`, a few ms); the
full pyramid runs on the first frame, whenever refinement loses the face or its confidence drops below
`min_prob`, and every `redetect_every` frames. Full detections search only for faces at least
`size_fraction` of the last seen face, so re-detecting a large bedside face is cheap.

Taking a new face as the patient asks more confidence (`acquire_prob`) than keeping one: on the project's
clips MTCNN scored cartoon letters up to 0.91, and real, partly covered faces no lower than 0.93 (0.96 for
99% of frames).
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import box_iou

from engine.detector import FaceDetector
from engine.status import FrameStatus
from engine.types import Face

SMALLEST_FACE = 20
"""Smallest face (pixels) a full detection ever looks for: facenet-pytorch's default."""


def patient_score(face: Face, frame_size: tuple[int, int]) -> float:
    """How likely a face is the patient: its size (√area) × (1 − centre distance / half the frame diagonal).

    A face at the frame centre counts with its full size, one in a corner with none.
    """
    h, w = frame_size
    x1, y1, x2, y2 = (float(v) for v in face.box)
    distance = np.hypot((x1 + x2) / 2 - w / 2, (y1 + y2) / 2 - h / 2)
    size = np.sqrt(max(x2 - x1, 0.0) * max(y2 - y1, 0.0))
    return float(size * max(1.0 - distance / np.hypot(w / 2, h / 2), 0.0))


def choose_patient(faces: list[Face], frame_size: tuple[int, int]) -> Face:
    """The largest face nearest the image centre: highest `patient_score` among non-empty `faces`."""
    return max(faces, key=lambda face: patient_score(face, frame_size))


class FaceTracker:
    """Tracks the patient's face in one stream; `update` once per frame, in order."""

    def __init__(
        self,
        detector: FaceDetector,
        *,
        redetect_every: int = 30,
        min_prob: float = 0.9,
        acquire_prob: float = 0.95,
        min_face_size: int = 40,
        size_fraction: float = 0.5,
        match_iou: float = 0.3,
    ) -> None:
        """min_prob: confidence a tracked face needs to be OK (below it: LOW_CONFIDENCE); acquire_prob
        (never below min_prob): confidence a new face needs to become the patient; min_face_size: searched
        while no face is known; size_fraction: of the last face's short side, searched afterwards;
        match_iou: overlap with the tracked box that makes a detection the same face."""
        self.detector = detector
        self.redetect_every = redetect_every
        self.min_prob = min_prob
        self.acquire_prob = max(acquire_prob, min_prob)
        self.base_min_face_size = min_face_size
        self.size_fraction = size_fraction
        self.match_iou = match_iou
        self.full_detections = 0
        self.refinements = 0
        self.reset()

    def reset(self) -> None:
        """Forget the tracked face (e.g. after a seek or a camera switch); counters keep running."""
        self._face: Face | None = None
        self._refines_left = 0
        self._face_side: float | None = None

    def min_face_size(self) -> int:
        """Smallest face the next full detection looks for: a fraction of the last face seen, at least 20."""
        seen = self._face_side
        wanted = self.base_min_face_size if seen is None else self.size_fraction * seen
        return max(int(wanted), SMALLEST_FACE)

    def update(self, frame_bgr: np.ndarray) -> tuple[Face | None, FrameStatus]:
        """The patient's face in this frame and its status: OK, LOW_CONFIDENCE (face kept, no score) or
        NO_FACE."""
        face = None
        if self._face is not None and self._refines_left > 0:
            self._refines_left -= 1
            self.refinements += 1
            face = self.detector.refine(frame_bgr, self._face.box)
            if face is not None and face.prob < self.min_prob:
                face = None
        if face is None:
            face = self._detect(frame_bgr)
        self._face = face
        if face is None:
            return None, FrameStatus.NO_FACE
        self._face_side = float(min(face.box[2:] - face.box[:2]))
        return face, FrameStatus.OK if face.prob >= self.min_prob else FrameStatus.LOW_CONFIDENCE

    def _detect(self, frame_bgr: np.ndarray) -> Face | None:
        """Full detection: the tracked face if it is still there (at any detector confidence), else the
        patient by `choose_patient` among faces of at least `acquire_prob`."""
        frame_size = frame_bgr.shape[:2]
        faces = self.detector.detect(frame_bgr, self.min_face_size())
        self.full_detections += 1
        self._refines_left = self.redetect_every - 1
        if self._face is not None and faces:
            boxes = torch.from_numpy(np.stack([face.box for face in faces]))
            overlap = box_iou(torch.from_numpy(self._face.box[None]), boxes)[0]
            best = int(overlap.argmax())
            if overlap[best] >= self.match_iou:
                return faces[best]
        confident = [face for face in faces if face.prob >= self.acquire_prob]
        if not confident:
            self._face_side = None
            return None
        return choose_patient(confident, frame_size)
