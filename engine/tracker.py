"""Following one patient's face through a video stream.

Most frames only refine the previous box with MTCNN's later stages (`Detector.refine`, a few ms). Every
`redetect_every` frames, and whenever refinement loses the face or its confidence drops below `min_prob`,
the pyramid searches a window around the face (WINDOW times its side) for faces of at least `size_fraction`
of it. Only acquisition (no face known) and loss (refinement and window both fail) search the whole frame,
so a large bedside face never costs a full-frame pyramid while it is followed. `track_many` steps several
trackers at once: the refinements of all trackers sharing a detector go to it in one `refine_many` call.

Taking a new face as the patient asks more confidence (`acquire_prob`) than keeping one: on the project's
clips MTCNN scored cartoon letters up to 0.91, and real, partly covered faces no lower than 0.93 (0.96 for
99% of frames).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.boxes import overlap
from engine.status import FrameStatus
from engine.types import Detector, Face

SMALLEST_FACE = 20
"""Smallest face (pixels) a detection ever looks for: facenet-pytorch's default."""
WINDOW = 3.0
"""Side of the window searched around a tracked face, in multiples of the face's longer side."""


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
    """Tracks the patient's face in one stream; `update` (or `track_many`) once per frame, in order."""

    def __init__(
        self,
        detector: Detector,
        *,
        redetect_every: int = 30,
        min_prob: float = 0.9,
        acquire_prob: float = 0.95,
        min_face_size: int = 40,
        size_fraction: float = 0.5,
        match_iou: float = 0.3,
    ) -> None:
        """redetect_every: frames between window searches while refinement holds the face; min_prob:
        confidence a tracked face needs to be OK (below it: LOW_CONFIDENCE); acquire_prob (never below
        min_prob): confidence a new face needs to become the patient; min_face_size: searched while no face
        is known; size_fraction: of the last face's short side, searched afterwards; match_iou: overlap with
        the tracked box that makes a detection the same face."""
        self.detector = detector
        self.redetect_every = redetect_every
        self.min_prob = min_prob
        self.acquire_prob = max(acquire_prob, min_prob)
        self.base_min_face_size = min_face_size
        self.size_fraction = size_fraction
        self.match_iou = match_iou
        self.full_detections = 0
        self.window_detections = 0
        self.refinements = 0
        self.reset()

    def reset(self) -> None:
        """Forget the tracked face (e.g. after a seek or a camera switch); counters keep running."""
        self._face: Face | None = None
        self._refines_left = 0
        self._face_side: float | None = None

    def min_face_size(self) -> int:
        """Smallest face the next detection looks for: a fraction of the last face seen, at least 20."""
        seen = self._face_side
        wanted = self.base_min_face_size if seen is None else self.size_fraction * seen
        return max(int(wanted), SMALLEST_FACE)

    def update(self, frame_bgr: np.ndarray) -> tuple[Face | None, FrameStatus]:
        """The patient's face in this frame and its status: OK, LOW_CONFIDENCE (face kept, no score) or
        NO_FACE."""
        return track_many([(self, frame_bgr)])[0]

    def _box_to_refine(self) -> np.ndarray | None:
        """The tracked box when this frame refines it (counted as a refinement), None when it searches."""
        if self._face is None or self._refines_left <= 0:
            return None
        self._refines_left -= 1
        self.refinements += 1
        return self._face.box

    def _settle(self, frame_bgr: np.ndarray, refined: Face | None) -> tuple[Face | None, FrameStatus]:
        """This frame's face from the refinement (None: lost or not tried), else from the window around
        the tracked face, else from the whole frame; the tracker moves on to it."""
        face = refined if refined is not None and refined.prob >= self.min_prob else None
        if face is None and self._face is not None:
            face = self._detect_window(frame_bgr, self._face)
        if face is None:
            face = self._detect_frame(frame_bgr)
        self._face = face
        if face is None:
            return None, FrameStatus.NO_FACE
        self._face_side = float(min(face.box[2:] - face.box[:2]))
        return face, FrameStatus.OK if face.prob >= self.min_prob else FrameStatus.LOW_CONFIDENCE

    def _detect_window(self, frame_bgr: np.ndarray, tracked: Face) -> Face | None:
        """The tracked face as the pyramid finds it in the window around it (at any detector confidence),
        None when no face there overlaps it by `match_iou`."""
        x0, y0, x1, y1 = search_window(tracked.box, frame_bgr.shape[:2])
        faces = self.detector.detect(frame_bgr[y0:y1, x0:x1], self.min_face_size())
        self.window_detections += 1
        self._refines_left = self.redetect_every - 1
        return self._match([shifted(face, x0, y0) for face in faces], tracked)

    def _detect_frame(self, frame_bgr: np.ndarray) -> Face | None:
        """Full-frame detection: the tracked face if it is still there (at any detector confidence), else
        the patient by `choose_patient` among faces of at least `acquire_prob`."""
        faces = self.detector.detect(frame_bgr, self.min_face_size())
        self.full_detections += 1
        self._refines_left = self.redetect_every - 1
        if self._face is not None and (kept := self._match(faces, self._face)) is not None:
            return kept
        confident = [face for face in faces if face.prob >= self.acquire_prob]
        if not confident:
            self._face_side = None
            return None
        return choose_patient(confident, frame_bgr.shape[:2])

    def _match(self, faces: list[Face], tracked: Face) -> Face | None:
        """The face overlapping the tracked one most, if by at least `match_iou`."""
        if not faces:
            return None
        overlaps = overlap(tracked.box, np.stack([face.box for face in faces]))
        best = int(overlaps.argmax())
        return faces[best] if overlaps[best] >= self.match_iou else None


def search_window(box: np.ndarray, frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 of the window searched around a tracked box: WINDOW times its longer side, centred on
    it, clipped to the frame."""
    height, width = frame_size
    x1, y1, x2, y2 = (float(v) for v in box)
    half = WINDOW * max(x2 - x1, y2 - y1) / 2
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return (max(int(cx - half), 0), max(int(cy - half), 0),
            min(int(np.ceil(cx + half)), width), min(int(np.ceil(cy + half)), height))


def shifted(face: Face, dx: int, dy: int) -> Face:
    """The face moved by (dx, dy) pixels: from window to frame coordinates."""
    offset = np.array([dx, dy], np.float32)
    return Face(face.box + np.tile(offset, 2), face.landmarks + offset, face.prob)


def track_many(pairs: Sequence[tuple[FaceTracker, np.ndarray]]) -> list[tuple[Face | None, FrameStatus]]:
    """`update` of each (tracker, frame), with the refinements of all trackers sharing a detector in one
    `refine_many` call. A tracker may appear several times (consecutive frames, in order): its frames are
    taken one per round, each round batched."""
    results: dict[int, tuple[Face | None, FrameStatus]] = {}
    for batch in _rounds([tracker for tracker, _ in pairs]):
        boxes = {index: pairs[index][0]._box_to_refine() for index in batch}
        wanted = [(index, box) for index, box in boxes.items() if box is not None]
        refined = _refine_grouped([(pairs[index][0].detector, pairs[index][1], box) for index, box in wanted])
        faces = {index: face for (index, _), face in zip(wanted, refined, strict=True)}
        for index in batch:
            tracker, frame = pairs[index]
            results[index] = tracker._settle(frame, faces.get(index))
    return [results[index] for index in range(len(pairs))]


def _rounds(trackers: Sequence[FaceTracker]) -> list[list[int]]:
    """Indices of `trackers` in rounds where each tracker appears at most once, its appearances in order."""
    rounds: list[list[int]] = []
    seen: dict[int, int] = {}
    for index, tracker in enumerate(trackers):
        turn = seen.get(id(tracker), 0)
        seen[id(tracker)] = turn + 1
        if turn == len(rounds):
            rounds.append([])
        rounds[turn].append(index)
    return rounds


def _refine_grouped(requests: Sequence[tuple[Detector, np.ndarray, np.ndarray]]) -> list[Face | None]:
    """`refine` of each (detector, frame, box), one `refine_many` call per detector."""
    groups: dict[int, list[int]] = {}
    for index, (detector, _, _) in enumerate(requests):
        groups.setdefault(id(detector), []).append(index)
    faces: list[Face | None] = [None] * len(requests)
    for members in groups.values():
        detector = requests[members[0]][0]
        refined = detector.refine_many([(requests[i][1], requests[i][2]) for i in members])
        for index, face in zip(members, refined, strict=True):
            faces[index] = face
    return faces
