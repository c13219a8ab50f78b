"""Alignment: the papers' template, the least-squares similarity, and warps of synthetic and real faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.align import PAPER_TEMPLATE, align_face, similarity_transform, template_for
from engine.detector import FaceDetector

SIZES = [(112, 96), (160, 160)]


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (N, 2) points through a 2×3 affine matrix."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def similarity(angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    """2×3 matrix of a rotation by angle_deg, uniform scale, then shift."""
    a = np.deg2rad(angle_deg)
    rotation = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.hstack([rotation, np.array(shift)[:, None]])


def test_paper_template_is_the_published_points() -> None:
    # happynear/PainRegression general_align.m (FACTS.md §2), MTCNN landmark order.
    assert PAPER_TEMPLATE.shape == (5, 2)
    assert PAPER_TEMPLATE.dtype == np.float32
    np.testing.assert_allclose(PAPER_TEMPLATE[:, 0], [30.2946, 65.5318, 48.0252, 33.5493, 62.7299], atol=1e-4)
    np.testing.assert_allclose(PAPER_TEMPLATE[:, 1], [51.6963, 51.5014, 71.7366, 92.3655, 92.2041], atol=1e-4)
    np.testing.assert_array_equal(template_for((112, 96)), PAPER_TEMPLATE)


@pytest.mark.parametrize(
    ("size", "crop_corners"),
    [
        # The papers' 112×96 crop scaled by 160/112 and centred: 80/7 ≈ 11.43 px margins left and right.
        ((160, 160), [[80 / 7, 0.0], [160 - 80 / 7, 160.0]]),
        ((224, 192), [[0.0, 0.0], [192.0, 224.0]]),
        ((112, 112), [[8.0, 0.0], [104.0, 112.0]]),
        ((120, 96), [[0.0, 4.0], [96.0, 116.0]]),
    ],
)
def test_template_for_places_the_papers_crop_centred_in_the_new_one(
    size: tuple[int, int], crop_corners: list[list[float]]
) -> None:
    template = template_for(size)
    matrix = similarity_transform(PAPER_TEMPLATE, template)
    # An exact similarity image of the papers' points (no distortion) ...
    np.testing.assert_allclose(apply(matrix, PAPER_TEMPLATE), template, atol=1e-4)
    assert matrix[0, 1] == pytest.approx(0.0, abs=1e-6)
    # ... whose 112×96 crop rectangle lands where expected in the (h, w) crop.
    corners = apply(matrix, np.array([[0.0, 0.0], [96.0, 112.0]]))
    np.testing.assert_allclose(corners, crop_corners, atol=1e-3)


def test_similarity_transform_recovers_an_exact_similarity() -> None:
    truth = similarity(angle_deg=-23.0, scale=2.7, shift=(312.5, 141.0))
    src = apply(truth, PAPER_TEMPLATE.astype(np.float64))
    found = similarity_transform(src, PAPER_TEMPLATE)
    np.testing.assert_allclose(apply(found, src), PAPER_TEMPLATE, atol=1e-3)
    inverse = cv2.invertAffineTransform(truth)
    np.testing.assert_allclose(found, inverse, atol=1e-5)


def test_similarity_transform_is_the_least_squares_fit_and_never_mirrors() -> None:
    rng = np.random.default_rng(0)
    src = apply(similarity(10.0, 3.0, (200.0, 120.0)), PAPER_TEMPLATE.astype(np.float64))
    src += rng.normal(0.0, 4.0, src.shape)
    found = similarity_transform(src, PAPER_TEMPLATE).astype(np.float64)
    best = np.sum((apply(found, src) - PAPER_TEMPLATE) ** 2)
    for _ in range(200):
        a, b = found[0, 0], found[1, 0]  # a = s·cos, b = s·sin; the similarity's four parameters
        a, b, tx, ty = np.array([a, b, found[0, 2], found[1, 2]]) + rng.normal(0, [1e-3, 1e-3, 0.05, 0.05])
        other = np.array([[a, -b, tx], [b, a, ty]])
        assert np.sum((apply(other, src) - PAPER_TEMPLATE) ** 2) >= best
    # Mirrored landmarks: the fit stays a rotation (det > 0) instead of reflecting the face.
    mirrored = src * [-1.0, 1.0]
    assert np.linalg.det(similarity_transform(mirrored, PAPER_TEMPLATE)[:, :2]) > 0


@pytest.mark.parametrize("size", SIZES)
def test_align_face_moves_marked_points_onto_the_template(size: tuple[int, int]) -> None:
    """Five coloured dots at known landmark positions end up on the template, in RGB order."""
    landmarks = apply(similarity(15.0, 2.5, (250.0, 60.0)), PAPER_TEMPLATE.astype(np.float64))
    frame = np.zeros((480, 640, 3), np.uint8)
    colours = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255)]  # BGR
    for (x, y), colour in zip(landmarks, colours, strict=True):
        cv2.circle(frame, (round(x * 16), round(y * 16)), 5 * 16, colour, -1, cv2.LINE_AA, shift=4)

    aligned = align_face(frame, landmarks.astype(np.float32), size)

    assert aligned.shape == (*size, 3)
    assert aligned.dtype == np.uint8
    for point, colour in zip(template_for(size), colours, strict=True):
        rgb = np.array(colour[::-1])
        mask = np.all(np.abs(aligned.astype(int) - rgb) < 60, axis=2)
        ys, xs = np.nonzero(mask)
        assert len(xs) > 0
        assert np.hypot(xs.mean() - point[0], ys.mean() - point[1]) < 0.5


def landmark_residuals(landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Distance (px of the aligned crop) of each warped landmark from its template point."""
    template = template_for(size)
    return np.linalg.norm(apply(similarity_transform(landmarks, template), landmarks) - template, axis=1)


@pytest.mark.parametrize("size", SIZES)
def test_real_neutral_faces_align_within_2px_of_the_template(
    detector: FaceDetector, face_frames: list[np.ndarray], size: tuple[int, int]
) -> None:
    """On near-neutral real faces the 5 landmarks sit on average within 2 px of the template.

    Frames 0 and 6 of single_face.mp4, before the person starts smiling.
    """
    for frame in face_frames[:2]:
        (face,) = detector.detect(frame)
        residuals = landmark_residuals(face.landmarks, size)
        assert residuals.mean() <= 2.0, residuals
        # The aligned crop is really that face: MTCNN finds it again, filling the crop.
        aligned = cv2.cvtColor(align_face(frame, face.landmarks, size), cv2.COLOR_RGB2BGR)
        padded = cv2.copyMakeBorder(aligned, 40, 40, 40, 40, cv2.BORDER_CONSTANT)
        found = detector.detect(padded, min_face_size=20)
        assert found
        assert found[0].box[2] - found[0].box[0] > 0.6 * size[1]


def test_real_expressive_faces_keep_the_rigid_points_on_the_template(
    detector: FaceDetector, face_frames: list[np.ndarray]
) -> None:
    """Smiling moves the mouth corners, which a similarity cannot (and should not) undo; the eyes stay put.

    Measured on these 12 frames at 112×96: mean residual 0.9-4.5 px, eyes ≤ 2.9 px, mouth corners ≤ 6.6 px.
    A landmark-order mix-up (e.g. swapped eyes) would give residuals of 15 px and more.
    """
    for frame in face_frames:
        (face,) = detector.detect(frame)
        residuals = landmark_residuals(face.landmarks, (112, 96))
        assert residuals[:2].max() <= 3.5, residuals
        assert residuals.mean() <= 5.0, residuals
