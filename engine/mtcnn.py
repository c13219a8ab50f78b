"""MTCNN face detection on ONNX Runtime, without torch: facenet-pytorch's algorithm on its networks.

The networks are facenet-pytorch's PNet, RNet and ONet exported to ONNX and shipped in assets/mtcnn
(`python -m engine.mtcnn_onnx assets/mtcnn` makes them). `OrtFaceDetector` follows facenet-pytorch's
`detect_face` step by step: the image pyramid, PNet's candidate boxes, NMS within each scale and across
scales, RNet, ONet with the landmarks, box regression, squaring and clipping, with torch's area resampling
(engine.resample). What differs is batching: RNet and ONet see all boxes in one call each, also boxes from
several frames (`refine_many`, one call for all beds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort

from engine.backends.onnx_backend import session_options
from engine.boxes import nms
from engine.paths import MTCNN_DIR
from engine.resample import AreaResampler, area_resize
from engine.types import Face

Network = Literal["pnet", "rnet", "onet"]
NETWORKS: tuple[Network, ...] = ("pnet", "rnet", "onet")
CROP_SIZE = {"rnet": 24, "onet": 48}
"""Side of the square crops RNet and ONet take."""

REFINE_SIDE = 0.8
"""Side of the square `refine` hands RNet, as a fraction of the known box's longer side. MTCNN's final
boxes are looser than the proposals RNet was trained on; on the real clips a 0.8 square gave the highest
ONet confidences and the closest agreement with full detection (1.0 lost the face on occluded frames)."""

_CELL, _STRIDE = 12, 2  # PNet's window and step in pyramid-level pixels


def refine_square(box: np.ndarray) -> np.ndarray:
    """The float32 (4,) square `refine` hands RNet for a known x1, y1, x2, y2 box (REFINE_SIDE)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    half = REFINE_SIDE * max(x2 - x1, y2 - y1) / 2
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return np.array([cx - half, cy - half, cx + half, cy + half], np.float32)


def pyramid_scales(height: int, width: int, min_face_size: float, factor: float) -> list[float]:
    """The pyramid's scales: the first maps `min_face_size` onto PNet's 12 pixels, each next one is
    `factor` times the last, down to the one whose short side still holds 12 pixels."""
    scale = 12.0 / min_face_size
    short = min(height, width) * scale
    scales = []
    while short >= _CELL:
        scales.append(scale)
        scale *= factor
        short *= factor
    return scales


def square(boxes: np.ndarray) -> np.ndarray:
    """Boxes grown to squares about their centres (side: the longer side)."""
    sides = boxes[:, 2:4] - boxes[:, 0:2]
    longest = sides.max(axis=1, keepdims=True)
    corner = boxes[:, 0:2] + (sides - longest) * 0.5
    return np.concatenate([corner, corner + longest], axis=1)


def regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """RNet's / ONet's box regression: corners moved by the offsets in units of the box's pixel size."""
    sides = boxes[:, 2:4] - boxes[:, 0:2] + 1
    return boxes + offsets * np.tile(sides, 2)


def normalised(images: np.ndarray) -> np.ndarray:
    """N×H×W×3 BGR pixels → the nets' input: N×3×H×W RGB float32, (x − 127.5) / 128."""
    batch = np.ascontiguousarray(images[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32)
    return (batch - 127.5) * 0.0078125


def _session(path: Path) -> ort.InferenceSession:
    """One network on the CPU, one intra-op thread: MTCNN's nets are small and run between other work."""
    options = session_options()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class _Boxes:
    """Candidate boxes (N, 4) float32 with their scores (N,) and the index of the frame each is in."""

    boxes: np.ndarray
    scores: np.ndarray
    owners: np.ndarray

    def take(self, keep: np.ndarray) -> _Boxes:
        return _Boxes(self.boxes[keep], self.scores[keep], self.owners[keep])


class OrtFaceDetector:
    """MTCNN on ONNX Runtime, returning `engine.types.Face`s in frame pixel coordinates (the
    `engine.types.Detector` protocol)."""

    def __init__(self, folder: Path = MTCNN_DIR, thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
                 factor: float = 0.709) -> None:
        """folder: holds pnet.onnx, rnet.onnx and onet.onnx (FP32, facenet-pytorch's weights)."""
        self.thresholds = tuple(thresholds)
        self.factor = factor
        self._nets = {name: _session(Path(folder) / f"{name}.onnx") for name in NETWORKS}
        self._inputs = {name: session.get_inputs()[0].name for name, session in self._nets.items()}

    def detect(self, frame_bgr: np.ndarray, min_face_size: int = 40) -> list[Face]:
        """All faces of about `min_face_size` pixels and larger (the pyramid's smallest scale; capped at the
        frame's short side), by the full MTCNN pyramid, most confident first."""
        min_face_size = min(min_face_size, *frame_bgr.shape[:2])
        found = self._proposals(frame_bgr, min_face_size)
        found, points = self._later_stages([frame_bgr], found, suppress=True)
        faces = [Face(box, marks, float(score))
                 for box, marks, score in zip(found.boxes, points, found.scores, strict=True)]
        return sorted(faces, key=lambda face: -face.prob)

    def refine(self, frame_bgr: np.ndarray, box: np.ndarray) -> Face | None:
        """Re-locate the face near `box` (x1, y1, x2, y2) with RNet then ONet; None if either rejects it."""
        return self.refine_many([(frame_bgr, box)])[0]

    def refine_many(self, items: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[Face | None]:
        """`refine` for each (frame, box), with one RNet and one ONet call for all of them."""
        squares = np.stack([refine_square(box) for _, box in items]) if items else np.zeros((0, 4))
        start = _Boxes(squares.astype(np.float32), np.zeros(len(items), np.float32), np.arange(len(items)))
        found, points = self._later_stages([frame for frame, _ in items], start, suppress=False)
        faces: list[Face | None] = [None] * len(items)
        for box, marks, score, owner in zip(found.boxes, points, found.scores, found.owners, strict=True):
            faces[owner] = Face(box, marks, float(score))
        return faces

    def _run(self, name: Network, images: np.ndarray) -> list[np.ndarray]:
        """The network's outputs for N×H×W×3 BGR images (pixel values 0..255), in its output order."""
        return self._nets[name].run(None, {self._inputs[name]: normalised(images)})

    def _proposals(self, frame: np.ndarray, min_face_size: int) -> _Boxes:
        """PNet over the pyramid: candidates kept by NMS 0.5 within each scale and 0.7 across scales, then
        moved by PNet's regression and squared."""
        height, width = frame.shape[:2]
        parts, resampler = [], AreaResampler(frame)
        for scale in pyramid_scales(height, width, min_face_size, self.factor):
            size = (int(width * scale + 1), int(height * scale + 1))
            level = resampler.resize(size)
            offsets, probs = self._run("pnet", level[None])
            ys, xs = np.nonzero(probs[0, 1] >= self.thresholds[0])
            cells = np.stack([xs, ys], axis=1).astype(np.float32)
            boxes = np.concatenate([np.floor((_STRIDE * cells + 1) / scale),
                                    np.floor((_STRIDE * cells + _CELL) / scale)], axis=1)
            scores, offsets = probs[0, 1, ys, xs], offsets[0][:, ys, xs].T
            keep = nms(boxes, scores, 0.5)
            parts.append(np.concatenate([boxes[keep], scores[keep, None], offsets[keep]], axis=1))
        found = np.concatenate(parts) if parts else np.zeros((0, 9), np.float32)
        found = found[nms(found[:, :4], found[:, 4], 0.7)]
        sides = found[:, 2:4] - found[:, 0:2]
        boxes = square(found[:, :4] + found[:, 5:9] * np.tile(sides, 2))
        return _Boxes(boxes, found[:, 4], np.zeros(len(found), np.int64))

    def _later_stages(self, frames: Sequence[np.ndarray], found: _Boxes, *, suppress: bool
                      ) -> tuple[_Boxes, np.ndarray]:
        """RNet, then ONet, on candidate boxes in `frames`: the final boxes with ONet's scores, and their
        landmarks (N, 5, 2). With `suppress`, NMS after each net as in detection (0.7; 'Min' after ONet)."""
        found, (offsets,) = self._stage("rnet", frames, found, self.thresholds[1])
        if suppress:
            keep = nms(found.boxes, found.scores, 0.7)
            found, offsets = found.take(keep), offsets[keep]
        found = _Boxes(square(regress(found.boxes, offsets)), found.scores, found.owners)
        found, (offsets, marks) = self._stage("onet", frames, found, self.thresholds[2])
        sides = found.boxes[:, None, 2:4] - found.boxes[:, None, 0:2] + 1
        points = np.stack([marks[:, :5], marks[:, 5:]], axis=2) * sides + found.boxes[:, None, 0:2] - 1
        found = _Boxes(regress(found.boxes, offsets), found.scores, found.owners)
        if suppress:
            keep = nms(found.boxes, found.scores, 0.7, smaller=True, inclusive=True)
            found, points = found.take(keep), points[keep]
        return found, points.astype(np.float32)

    def _stage(self, name: Network, frames: Sequence[np.ndarray], found: _Boxes, threshold: float
               ) -> tuple[_Boxes, list[np.ndarray]]:
        """Run RNet or ONet on the crops of the candidates: those it scores above `threshold`, with its
        score, and its other outputs (offsets, landmarks) for them. Boxes wholly outside their frame go."""
        size = CROP_SIZE[name]
        crops, inside = [], []
        for index, (box, owner) in enumerate(zip(found.boxes, found.owners, strict=True)):
            crop = _crop(frames[owner], box, size)
            if crop is not None:
                crops.append(crop)
                inside.append(index)
        found = found.take(np.array(inside, np.int64))
        images = np.stack(crops) if crops else np.zeros((0, size, size, 3), np.float32)
        *others, probs = self._run(name, images)
        keep = probs[:, 1] > threshold
        passed = _Boxes(found.boxes[keep], probs[keep, 1], found.owners[keep])
        return passed, [output[keep] for output in others]


def _crop(frame: np.ndarray, box: np.ndarray, size: int) -> np.ndarray | None:
    """The box's pixels as facenet-pytorch cuts them (corners truncated to whole pixels, clipped to the
    frame), area-resampled to size×size (float32); None when nothing of the box lies in the frame."""
    height, width = frame.shape[:2]
    x1, y1, x2, y2 = np.trunc(box).astype(np.int64)
    x, y, ex, ey = max(x1, 1), max(y1, 1), min(x2, width), min(y2, height)
    if ey <= y - 1 or ex <= x - 1:
        return None
    return area_resize(frame[y - 1 : ey, x - 1 : ex], (size, size))
