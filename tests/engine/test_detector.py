"""MTCNN detection and box refinement on real photos and video frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from facenet_pytorch import MTCNN

from engine.detector import FaceDetector
from engine.types import Face
from tests.helpers import iou, read_frames


def assert_plausible_face(face: Face) -> None:
    """Landmarks inside the box, in MTCNN's order: eyes left to right above the nose, mouth below."""
    x1, y1, x2, y2 = face.box
    left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
    assert np.all((face.landmarks >= [x1, y1]) & (face.landmarks <= [x2, y2]))
    assert left_eye[0] < nose[0] < right_eye[0]
    assert mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_detect_finds_the_one_face_in_a_photo(detector: FaceDetector, clips_dir: Path) -> None:
    frame = cv2.imread(str(clips_dir / "single_face.jpg"))
    faces = detector.detect(frame)
    assert len(faces) == 1
    face = faces[0]
    assert face.prob > 0.99
    assert face.box.shape == (4,)
    assert face.box.dtype == np.float32
    assert face.landmarks.shape == (5, 2)
    assert face.landmarks.dtype == np.float32
    assert_plausible_face(face)
    # Same answer as facenet-pytorch's own MTCNN.detect (RGB input) with the same settings.
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    boxes, probs, points = MTCNN(min_face_size=40).detect(rgb, landmarks=True)
    np.testing.assert_allclose(face.box, boxes.astype(np.float32)[0], atol=1e-3)
    np.testing.assert_allclose(face.landmarks, points.astype(np.float32)[0], atol=1e-3)
    assert face.prob == pytest.approx(float(probs[0]), abs=1e-5)
    # A minimum face size beyond the frame searches at the frame's size instead of failing.
    assert len(detector.detect(frame, min_face_size=5000)) <= 1


def test_detect_finds_the_face_in_every_video_frame(
    detector: FaceDetector, face_frames: list[np.ndarray]
) -> None:
    for frame in face_frames:
        faces = detector.detect(frame)
        assert len(faces) == 1
        assert faces[0].prob > 0.99
        assert_plausible_face(faces[0])


def test_detect_finds_nothing_without_a_face(detector: FaceDetector, clips_dir: Path) -> None:
    frames = read_frames(clips_dir / "no_face.mp4", 4, step=24)
    assert len(frames) == 4
    for frame in frames:
        assert detector.detect(frame, min_face_size=20) == []


def test_detect_finds_every_face_in_a_group_photo(detector: FaceDetector, clips_dir: Path) -> None:
    faces = detector.detect(cv2.imread(str(clips_dir / "multi_face.jpg")))
    assert len(faces) == 5
    probs = [face.prob for face in faces]
    assert probs == sorted(probs, reverse=True)
    for face in faces:
        assert_plausible_face(face)


def test_refine_follows_the_face_to_the_next_frames(detector: FaceDetector, clips_dir: Path) -> None:
    """RNet+ONet around the previous frame's box agree with a full detection of the new frame."""
    frames = read_frames(clips_dir / "WolfgangLanger_Pexels.mp4", 6, step=20)
    detections = [detector.detect(frame) for frame in frames]
    for (known,), frame, (truth,) in zip(detections, frames[1:], detections[1:], strict=False):
        refined = detector.refine(frame, known.box)
        assert refined is not None
        assert refined.prob > 0.9
        assert iou(refined.box, truth.box) >= 0.8
        assert np.abs(refined.landmarks - truth.landmarks).max() < 0.1 * (truth.box[2] - truth.box[0])
        assert_plausible_face(refined)


def test_refine_rejects_a_box_without_a_face(
    detector: FaceDetector, clips_dir: Path, face_frames: list[np.ndarray]
) -> None:
    (face,) = detector.detect(face_frames[0])
    # The same box on frames that show no face, and a box entirely outside the frame.
    for frame in read_frames(clips_dir / "no_face.mp4", 4, step=20):
        scaled = face.box * frame.shape[1] / face_frames[0].shape[1]
        assert detector.refine(frame, scaled) is None
    assert detector.refine(face_frames[0], np.array([700, 400, 900, 600], np.float32)) is None
