"""Five-point similarity alignment onto the papers' face template (FACTS.md §2)."""

from __future__ import annotations

import cv2
import numpy as np

PAPER_SIZE = (112, 96)
"""(h, w) of the papers' aligned crop."""

PAPER_TEMPLATE = np.array(
    [
        [30.2946, 51.6963],  # image-left eye
        [65.5318, 51.5014],  # image-right eye
        [48.0252, 71.7366],  # nose tip
        [33.5493, 92.3655],  # left mouth corner
        [62.7299, 92.2041],  # right mouth corner
    ],
    dtype=np.float32,
)
"""x, y of the 5 MTCNN landmarks in the papers' 112×96 crop, in MTCNN's landmark order."""


def template_for(size: tuple[int, int]) -> np.ndarray:
    """Landmark template for an (h, w) crop.

    The papers' 112×96 crop is scaled uniformly to fit the crop and centred in it, so (112, 96) gives
    PAPER_TEMPLATE and (160, 160) the square version: the papers' crop scaled by 160/112 with equal
    margins left and right.
    """
    h, w = size
    scale = min(h / PAPER_SIZE[0], w / PAPER_SIZE[1])
    shift = np.array([(w - PAPER_SIZE[1] * scale) / 2, (h - PAPER_SIZE[0] * scale) / 2], dtype=np.float32)
    return (PAPER_TEMPLATE * scale + shift).astype(np.float32)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2×3 least-squares similarity (rotation, uniform scale, shift) mapping src (N, 2) onto dst (N, 2).

    Closed-form solution of Umeyama (1991) without reflection.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, sigma, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    scale = (sigma * sign).sum() / src_c.var(axis=0).sum()
    shift = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, shift[:, None]]).astype(np.float32)


def align_face(frame_bgr: np.ndarray, landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Warp the face with these 5 landmarks (frame pixels) onto template_for(size); RGB uint8 (h, w, 3)."""
    h, w = size
    matrix = similarity_transform(landmarks, template_for(size))
    crop = cv2.warpAffine(frame_bgr, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
