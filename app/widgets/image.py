"""OpenCV frames to Qt images, and the face overlay drawn on them."""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtGui import QImage


def bgr_to_qimage(frame: np.ndarray) -> QImage:
    """Copy an OpenCV BGR uint8 (H, W, 3) frame into a QImage (the frame can be reused afterwards)."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected a BGR uint8 (H, W, 3) frame, got {frame.dtype} {frame.shape}")
    frame = np.ascontiguousarray(frame)
    height, width = frame.shape[:2]
    return QImage(frame.data, width, height, frame.strides[0], QImage.Format.Format_BGR888).copy()


def fitted_qimage(frame: np.ndarray, width: int, height: int) -> QImage:
    """A BGR frame scaled down (area averaging, OpenCV: far cheaper than scaling the full-size QPixmap) to
    fit width × height with its aspect ratio kept, as a QImage; never scaled up."""
    scale = min(width / frame.shape[1], height / frame.shape[0], 1.0)
    size = (max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale)))
    return bgr_to_qimage(cv2.resize(frame, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else frame)


SCORED_COLOUR = (80, 220, 80)  # BGR green: the face was scored
UNSCORED_COLOUR = (0, 200, 255)  # BGR amber: found but not scored (low confidence, model error)


def draw_face(image: np.ndarray, box: np.ndarray, landmarks: np.ndarray, scored: bool = True) -> np.ndarray:
    """A copy of a BGR frame with the face box and its five landmarks drawn (the frame itself when the box
    is NaN: no face)."""
    if np.isnan(box).any():
        return image
    out = image.copy()
    colour = SCORED_COLOUR if scored else UNSCORED_COLOUR
    thickness = max(1, round(out.shape[0] / 240))
    x1, y1, x2, y2 = np.round(box).astype(int)
    cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
    for x, y in np.round(landmarks).astype(int):
        cv2.circle(out, (x, y), thickness + 1, colour, -1, cv2.LINE_AA)
    return out
