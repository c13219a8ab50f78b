"""Face detection with facenet-pytorch's MTCNN (its shipped P/R/O-net weights).

`detect` runs the full MTCNN image pyramid. `refine` runs only the later stages (RNet, then ONet for the
landmarks) on a square around a known box, which is how the tracker follows a face without a pyramid.
Both take OpenCV BGR frames and feed the nets exactly as facenet-pytorch does: RGB, (x − 127.5) / 128,
area resampling of the crops, its box regression and landmark decoding. engine.mtcnn does the same on
ONNX Runtime without torch; this one runs the nets in torch (CPU, CUDA) or as TensorRT engines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np
import torch
from facenet_pytorch import MTCNN
from facenet_pytorch.models.utils.detect_face import bbreg, detect_face, imresample, pad, rerec

from engine.mtcnn import refine_square
from engine.types import Face


class FaceDetector:
    """MTCNN face detector returning `engine.types.Face`s in frame pixel coordinates (the
    `engine.types.Detector` protocol)."""

    def __init__(
        self,
        device: str = "cpu",
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
        nets: Mapping[str, torch.nn.Module] | None = None,
    ) -> None:
        """`nets` replaces facenet-pytorch's "pnet", "rnet", "onet" modules with drop-ins taking the same
        input and returning the same outputs (TensorRT engines); pyramid, decoding and NMS stay unchanged."""
        self.device = torch.device(device)
        self.thresholds = tuple(thresholds)
        self.factor = factor
        mtcnn = MTCNN(thresholds=list(self.thresholds), factor=factor, device=self.device).eval()
        nets = {"pnet": mtcnn.pnet, "rnet": mtcnn.rnet, "onet": mtcnn.onet, **(nets or {})}
        self._pnet, self._rnet, self._onet = nets["pnet"], nets["rnet"], nets["onet"]

    def detect(self, frame_bgr: np.ndarray, min_face_size: int = 40) -> list[Face]:
        """All faces of about `min_face_size` pixels and larger (the pyramid's smallest scale; capped at the
        frame's short side), by the full MTCNN pyramid, most confident first."""
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        min_face_size = min(min_face_size, *rgb.shape[:2])
        with torch.inference_mode():
            nets = (self._pnet, self._rnet, self._onet)
            boxes, points = detect_face(rgb, min_face_size, *nets, self.thresholds, self.factor, self.device)
        # numpy 2 hands back object arrays (FACTS.md §1); one image → index 0.
        boxes = np.asarray(boxes[0], dtype=np.float32).reshape(-1, 5)
        points = np.asarray(points[0], dtype=np.float32).reshape(-1, 5, 2)
        faces = [
            Face(box[:4].copy(), pts.copy(), float(box[4])) for box, pts in zip(boxes, points, strict=True)
        ]
        return sorted(faces, key=lambda face: -face.prob)

    def refine(self, frame_bgr: np.ndarray, box: np.ndarray) -> Face | None:
        """Re-locate the face near `box` (x1, y1, x2, y2) with RNet then ONet; None if either rejects it."""
        boxes = torch.tensor([[*refine_square(box), 0.0]], device=self.device)
        with torch.inference_mode():
            crop = self._crop(frame_bgr, boxes, 24)
            if crop is None:
                return None
            reg, prob = self._rnet(crop)
            if prob[0, 1] <= self.thresholds[1]:
                return None
            boxes = rerec(bbreg(boxes, reg))
            crop = self._crop(frame_bgr, boxes, 48)
            if crop is None:
                return None
            reg, marks, prob = self._onet(crop)
            score = float(prob[0, 1])
            if score <= self.thresholds[2]:
                return None
            side = boxes[0, 2:4] - boxes[0, 0:2] + 1
            landmarks = torch.stack([marks[0, :5], marks[0, 5:]], dim=1) * side + boxes[0, 0:2] - 1
            final = bbreg(boxes, reg)[0, :4]
        return Face(final.cpu().numpy().astype(np.float32), landmarks.cpu().numpy().astype(np.float32), score)

    def refine_many(self, items: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[Face | None]:
        """`refine` for each (frame, box), one after the other."""
        return [self.refine(frame, box) for frame, box in items]

    def _crop(self, frame_bgr: np.ndarray, boxes: torch.Tensor, size: int) -> torch.Tensor | None:
        """Net input for a one-box tensor, cut as facenet-pytorch cuts it (clipped to the frame), RGB,
        area-resampled to size×size and normalised; None when the box lies outside the frame."""
        h, w = frame_bgr.shape[:2]
        y, ey, x, ex = (int(v[0]) for v in pad(boxes, w, h))
        if ey <= y - 1 or ex <= x - 1:
            return None
        patch = torch.from_numpy(frame_bgr[y - 1 : ey, x - 1 : ex, ::-1].copy()).to(self.device)
        crop = imresample(patch.permute(2, 0, 1).unsqueeze(0).float(), (size, size))
        return (crop - 127.5) * 0.0078125
