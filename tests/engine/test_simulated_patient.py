"""The renderer and the live simulated patient: PSPI, what each AU moves, detection by the real MTCNN."""

from __future__ import annotations

import math

import numpy as np
import pytest
from facenet_pytorch import MTCNN

from engine.face_render import DISTRACTOR_AUS, Pose, random_identity, render_face
from engine.pspi import PSPI_AUS, pspi, pspi_to_level
from engine.simulated_patient import SimulatedPatient

FULL_PAIN = {4: 5.0, 6: 5.0, 7: 5.0, 9: 5.0, 10: 5.0, 43: 1.0}
EVERYTHING = FULL_PAIN | {12: 5.0, 25: 5.0, 26: 5.0}
# Landmarks (66-point AAM order) around the part of the face each AU must move.
REGIONS = {
    4: range(17, 27),  # brows
    6: range(36, 48),  # eyes and the cheeks below them
    7: range(36, 48),
    9: range(27, 36),  # nose
    10: range(48, 66),  # mouth
    43: range(36, 48),
    12: range(48, 66),
    25: range(48, 66),
    26: range(48, 66),
}


def identity(seed: int):
    return random_identity(np.random.default_rng(seed))


def test_pspi_is_the_prkachin_solomon_sum():
    assert pspi({}) == 0
    assert pspi({4: 2, 6: 1, 7: 3, 9: 4, 10: 1, 43: 1}) == 2 + 3 + 4 + 1
    assert pspi({43: 0.3}) == 1  # AU43 counts 1 whatever it is coded with
    assert pspi({12: 5, 25: 5, 26: 5}) == 0  # distractors do not count
    assert pspi(FULL_PAIN) == 16


def test_pspi_maps_to_the_papers_six_levels():
    assert [pspi_to_level(v) for v in range(17)] == [0, 1, 2, 3, 4, 4] + [5] * 11


@pytest.mark.parametrize("bad", [-1.0, math.nan])
def test_pspi_level_rejects_impossible_values(bad):
    with pytest.raises(ValueError, match="PSPI"):
        pspi_to_level(bad)


def test_render_gives_frame_and_landmarks_and_is_deterministic():
    person = identity(1)
    frame, landmarks = render_face(person, {6: 3, 25: 2}, size=(200, 150))
    assert frame.shape == (150, 200, 3) and frame.dtype == np.uint8
    assert landmarks.shape == (66, 2)
    assert (landmarks >= 0).all() and (landmarks[:, 0] < 200).all() and (landmarks[:, 1] < 150).all()
    again, again_landmarks = render_face(person, {6: 3, 25: 2}, size=(200, 150))
    assert np.array_equal(frame, again) and np.array_equal(landmarks, again_landmarks)
    noisy, _ = render_face(person, {6: 3, 25: 2}, size=(200, 150), rng=np.random.default_rng(0))
    difference = np.abs(noisy.astype(int) - frame.astype(int))
    assert 0.5 < difference.mean() < 5  # sensor noise: present but small


def test_pose_moves_and_turns_the_face():
    person = identity(2)
    _, straight = render_face(person, {}, size=(320, 240))
    _, moved = render_face(person, {}, size=(320, 240), pose=Pose(dx=0.05))
    assert np.allclose(moved - straight, (16.0, 0.0), atol=1e-3)  # 5 % of 320 px to the right
    _, rolled = render_face(person, {}, size=(320, 240), pose=Pose(roll=8.0))
    eye_line = rolled[42:48].mean(0) - rolled[36:42].mean(0)
    assert math.degrees(math.atan2(eye_line[1], eye_line[0])) == pytest.approx(8.0, abs=0.5)


@pytest.mark.parametrize("au", PSPI_AUS + DISTRACTOR_AUS)
def test_each_au_changes_its_own_part_of_the_face(au):
    """At full intensity an AU visibly changes the region around its landmarks, more than anywhere else."""
    person = identity(3)
    size = (320, 240)
    neutral, landmarks = render_face(person, {}, size)
    moved, _ = render_face(person, {au: 1.0 if au == 43 else 5.0}, size)
    change = np.abs(moved.astype(int) - neutral.astype(int)).sum(2)
    points = landmarks[list(REGIONS[au])]
    margin = 0.15 * np.ptp(landmarks[:, 0])
    x0, y0 = np.floor(points.min(0) - margin).astype(int)
    x1, y1 = np.ceil(points.max(0) + margin).astype(int)
    inside = change[y0:y1, x0:x1]
    assert (inside > 40).sum() > 60, f"AU{au} barely changes its region"
    assert inside.sum() > 0.6 * change.sum(), f"AU{au} changes mostly elsewhere"


@pytest.fixture(scope="module")
def mtcnn() -> MTCNN:
    return MTCNN(keep_all=True, min_face_size=40, device="cpu")


def test_real_mtcnn_detects_rendered_faces_at_rest_and_in_full_pain(mtcnn):
    """Twelve people at rest, in full pain (eyes shut) and with every AU at once, in random small poses."""
    rng = np.random.default_rng(11)
    for seed in range(12):
        person = identity(100 + seed)
        for aus in ({}, FULL_PAIN, EVERYTHING):
            shift = rng.uniform(-0.03, 0.03, 2)
            pose = Pose(dx=shift[0], dy=shift[1], scale=rng.uniform(0.95, 1.05), roll=rng.uniform(-5, 5),
                        yaw=rng.uniform(-0.25, 0.25))
            frame, landmarks = render_face(person, aus, (320, 240), pose, rng)
            boxes, probs, points = mtcnn.detect(np.ascontiguousarray(frame[..., ::-1]), landmarks=True)
            assert boxes is not None, f"no face found: person {seed}, AUs {aus}"
            probs = np.asarray(probs, dtype=np.float32)
            best = int(np.argmax(probs))
            assert probs[best] > 0.8
            eyes = np.asarray(points[best], dtype=np.float32)[:2]
            truth = np.stack([landmarks[36:42].mean(0), landmarks[42:48].mean(0)])
            interocular = np.linalg.norm(truth[1] - truth[0])
            assert np.linalg.norm(eyes - truth, axis=1).max() < 0.25 * interocular, "eyes found elsewhere"


def test_simulated_patient_has_rare_clear_pain_episodes():
    patient = SimulatedPatient(seed=4, fps=15.0, size=(160, 90))
    frames = list(patient.frames(15 * 60))
    truth = np.array([f.pspi for f in frames])
    assert [f.index for f in frames] == list(range(len(frames)))
    assert frames[-1].timestamp == pytest.approx((len(frames) - 1) / 15.0)
    assert 0.6 < np.mean(truth == 0) < 0.95  # PSPI 0 most of the time
    painful = np.r_[0, (truth > 0).astype(int), 0]
    starts, ends = np.flatnonzero(np.diff(painful) == 1), np.flatnonzero(np.diff(painful) == -1)
    peaks = [truth[s:e].max() for s, e in zip(starts, ends, strict=True)]
    assert sum(p >= 4 for p in peaks) >= 2, f"no clear peaks: {peaks}"
    assert all(f.level == pspi_to_level(f.pspi) and f.pspi == pspi(f.aus) for f in frames)
    assert frames[0].image.shape == (90, 160, 3)


def test_simulated_patient_reads_like_a_camera_and_repeats_from_its_seed():
    first, second, other = (SimulatedPatient(seed=s, size=(128, 96)) for s in (9, 9, 10))
    images = []
    for expected_index in range(20):
        index, timestamp, image = first.read()
        assert index == expected_index and timestamp == pytest.approx(index / 15.0)
        assert first.current_pspi == pspi(first.current_aus)
        assert first.level() == pspi_to_level(first.current_pspi)
        assert np.array_equal(image, second.read()[2])
        images.append(image)
    assert not any(np.array_equal(a, b.image) for a, b in zip(images, other.frames(20), strict=True))
