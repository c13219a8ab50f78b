"""Face quality on real frames degraded in known ways, head pose from the landmarks, and low-quality frames
as gaps through the whole pipeline."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.align import PAPER_SIZE, align_face
from engine.detector import FaceDetector
from engine.quality import LIMITS, QUALITY_THRESHOLD, FaceQuality, assess, head_pose
from engine.tracker import choose_patient
from tests.helpers import read_frames, run_painmon, save_random_checkpoint

Degrade = Callable[[np.ndarray], np.ndarray]


def rotated(frame: np.ndarray, angle: float) -> np.ndarray:
    """The frame rotated counter-clockwise by `angle` degrees about its centre (edges repeated)."""
    h, w = frame.shape[:2]
    return cv2.warpAffine(frame, cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0), (w, h),
                          borderMode=cv2.BORDER_REPLICATE)


def lit(frame: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(frame.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def patient_face(detector: FaceDetector, frame: np.ndarray) -> tuple[np.ndarray, FaceQuality] | None:
    """The patient's landmarks and their face's quality, as the pipeline sees them (None: no face)."""
    faces = detector.detect(frame, 12)
    if not faces:
        return None
    face = choose_patient(faces, frame.shape[:2])
    return face.landmarks, assess(face.landmarks, align_face(frame, face.landmarks, PAPER_SIZE))


DEGRADATIONS: dict[str, tuple[Degrade, str]] = {
    "darkened × 0.2": (lambda f: lit(f, 0.2), "too dark"),
    "brightened × 2.5": (lambda f: lit(f, 2.5), "too bright"),
    "blurred σ 4 px": (lambda f: cv2.GaussianBlur(f, (0, 0), 4), "blurred"),
    "shrunk × 0.1": (lambda f: cv2.resize(f, None, fx=0.1, fy=0.1, interpolation=cv2.INTER_AREA),
                     "too small"),
    "rotated 60°": (lambda f: rotated(f, 60), "head tilted"),
}


def test_real_frames_as_recorded_are_usable(face_frames: list[np.ndarray], detector: FaceDetector) -> None:
    for frame in face_frames:
        found = patient_face(detector, frame)
        assert found is not None
        _, quality = found
        assert quality.usable and quality.reason == "" and quality.value >= QUALITY_THRESHOLD, quality
        assert abs(quality.measures["yaw"]) < 15 and abs(quality.measures["pitch"]) < 20  # a frontal face


@pytest.mark.parametrize("name", DEGRADATIONS)
def test_real_frames_degraded_in_a_known_way_give_its_reason(name: str, face_frames: list[np.ndarray],
                                                             detector: FaceDetector) -> None:
    degrade, reason = DEGRADATIONS[name]
    found = [patient_face(detector, degrade(frame)) for frame in face_frames]
    qualities = [quality for _, quality in filter(None, found)]
    assert len(qualities) >= 10  # MTCNN still finds the face in (nearly) every degraded frame
    assert [q.reason for q in qualities] == [reason] * len(qualities)
    assert all(not q.usable and q.value < QUALITY_THRESHOLD for q in qualities)


@pytest.mark.parametrize("angle", [-20, -10, 10, 20])
def test_roll_follows_a_known_rotation_within_5_degrees(angle: int, face_frames: list[np.ndarray],
                                                        detector: FaceDetector) -> None:
    for frame in face_frames:
        upright, turned = patient_face(detector, frame), patient_face(detector, rotated(frame, angle))
        assert upright is not None and turned is not None
        change = head_pose(turned[0])[2] - head_pose(upright[0])[2]
        assert abs(change - angle) <= 5.0, (change, angle)  # counter-clockwise raises the face's right side


def projected(yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """Five landmarks of a face (eyes, nose tip 0.45 inter-ocular distances in front of them, mouth corners)
    turned by `yaw` (towards the image right), then nodding down by `pitch`, then tilted counter-clockwise by
    `roll` (degrees), seen orthographically, in pixels at a 60 px inter-ocular distance."""
    points = np.array([[-0.5, 0, 0], [0.5, 0, 0], [0, 0.69, 0.45], [-0.41, 1.15, 0.2], [0.41, 1.15, 0.2]])
    a, b, c = (math.radians(v) for v in (yaw, pitch, roll))
    turn = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    nod = np.array([[1, 0, 0], [0, math.cos(b), math.sin(b)], [0, -math.sin(b), math.cos(b)]])
    tilt = np.array([[math.cos(c), math.sin(c)], [-math.sin(c), math.cos(c)]])
    return ((points @ turn.T @ nod.T)[:, :2] @ tilt.T * 60 + [320, 180]).astype(np.float32)


@pytest.mark.parametrize(("yaw", "pitch", "roll"),
                         [(0, 0, 0), (20, 0, 0), (-35, 0, 0), (0, 20, 0), (0, -30, 0), (0, 0, 30)])
def test_yaw_pitch_and_roll_are_read_from_the_landmarks(yaw: float, pitch: float, roll: float) -> None:
    measured = head_pose(projected(yaw, pitch, roll))
    assert measured[0] == pytest.approx(yaw, abs=2.0) and measured[1] == pytest.approx(pitch, abs=3.0)
    assert measured[2] == pytest.approx(roll, abs=5.0)  # turning the head moves the lips off the eye line


def test_a_turned_face_or_a_hidden_landmark_is_unusable_with_its_reason(face_frames: list[np.ndarray],
                                                                         detector: FaceDetector) -> None:
    frame = face_frames[0]
    found = patient_face(detector, frame)
    assert found is not None
    landmarks = found[0]
    crop = align_face(frame, landmarks, PAPER_SIZE)
    assert assess(projected(45, 0), crop).reason == "face turned away"
    assert assess(projected(0, -45), crop).reason == "face turned away or covered"
    iod = float(np.linalg.norm(landmarks[1] - landmarks[0]))
    hidden = landmarks.copy()
    hidden[4] += [0.9 * iod, -0.6 * iod]  # a mouth corner pulled far out of place (a hand, a mask)
    assert assess(hidden, crop).reason == "face partly hidden"


def test_quality_is_measured_on_the_papers_crop_whatever_the_models_input(face_frames: list[np.ndarray],
                                                                         detector: FaceDetector) -> None:
    found = patient_face(detector, face_frames[0])
    assert found is not None
    square = align_face(face_frames[0], found[0], (160, 160))  # InceptionResnetV1's input
    with pytest.raises(ValueError, match=r"papers' \(112, 96\) crop"):
        assess(found[0], square)
    assert set(found[1].measures) == set(LIMITS)


def test_analyze_of_a_darkened_real_clip_leaves_gaps_that_say_why(clips_dir: Path, tmp_path: Path) -> None:
    video = tmp_path / "dark.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 360))
    for i, frame in enumerate(read_frames(clips_dir / "single_face.mp4", 30)):
        writer.write(lit(frame, 0.2) if i >= 15 else frame)  # the light goes down halfway
    writer.release()
    model = save_random_checkpoint(tmp_path / "model.safetensors")
    result = run_painmon("analyze", video, "--model", model, "--out", tmp_path / "dark.csv",
                         "--backend", "onnx")
    assert result.returncode == 0, result.stderr
    with (tmp_path / "dark.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    first, second = rows[:15], rows[15:]
    assert all(r["status"] == "ok" and r["score"] and float(r["quality"]) >= 0.5 for r in first)
    assert all(r["status"] == "low_quality" and r["score"] == "" and r["quality_reason"] == "too dark"
               and float(r["quality"]) < 0.5 and r["x1"] for r in second)  # the face is still drawn
    assert "frames by status: face 15; low quality 15 (too dark 15)" in result.stdout
