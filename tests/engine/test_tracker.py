"""Patient tracking through real clips: refinement and window searches instead of full detection, gaps,
patient choice, several streams at once; with the torch detector and the ONNX Runtime one."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.detector import FaceDetector
from engine.mtcnn import OrtFaceDetector
from engine.status import FrameStatus
from engine.tracker import FaceTracker, choose_patient, patient_score, track_many
from engine.types import Detector, Face
from tests.helpers import iou, read_frames


@pytest.fixture(params=["torch", "onnxruntime"])
def detector(request: pytest.FixtureRequest, detector: FaceDetector, ort_detector: OrtFaceDetector
             ) -> Detector:
    """Each test runs with facenet-pytorch's detector and with the torch-free one."""
    return detector if request.param == "torch" else ort_detector


def face_shown(frames: list[np.ndarray], face_first: bool) -> list[bool]:
    """Ground truth for the cut clips without the detector: the scene cut is the largest jump between
    consecutive frames; the face is on one side of it, and black frames show nothing."""
    jumps = [np.abs(a.astype(np.int16) - b).mean() for a, b in pairwise(frames)]
    cut = int(np.argmax(jumps)) + 1
    return [(index < cut) == face_first and frame.mean() > 20 for index, frame in enumerate(frames)]


def test_tracker_refines_most_frames_and_agrees_with_full_detection(
    detector: FaceDetector, clips_dir: Path
) -> None:
    frames = read_frames(clips_dir / "single_face.mp4", 72)
    tracker = FaceTracker(detector, redetect_every=30)
    results = [tracker.update(frame) for frame in frames]

    assert [status for _, status in results] == [FrameStatus.OK] * 72
    # Full detection only on the first frame, a window search every 30th after it; RNet+ONet on the rest.
    assert (tracker.full_detections, tracker.window_detections, tracker.refinements) == (1, 2, 69)
    for index in range(0, 72, 8):
        (truth,) = detector.detect(frames[index])
        face = results[index][0]
        assert iou(face.box, truth.box) >= 0.8
        assert np.abs(face.landmarks - truth.landmarks).max() < 0.1 * (truth.box[2] - truth.box[0])


@pytest.mark.parametrize(
    ("clip", "start", "face_first"), [("face_noface.mov", 52, True), ("noface_face.mov", 76, False)]
)
def test_tracker_reports_no_face_exactly_where_the_face_is_absent(
    detector: FaceDetector, clips_dir: Path, clip: str, start: int, face_first: bool
) -> None:
    """40 frames around the scene cut of a clip where the face disappears / appears."""
    frames = read_frames(clips_dir / clip, start + 40)[start:]
    shown = face_shown(frames, face_first)
    assert 10 < sum(shown) < len(frames) - 10
    tracker = FaceTracker(detector)
    for frame, present in zip(frames, shown, strict=True):
        face, status = tracker.update(frame)
        assert status == (FrameStatus.OK if present else FrameStatus.NO_FACE)
        assert (face is not None) == present
    # While the face is visible it is refined, not searched for on every frame.
    assert tracker.refinements >= sum(shown) - 3


def test_min_face_size_follows_the_face_seen(detector: FaceDetector, clips_dir: Path) -> None:
    frames = read_frames(clips_dir / "face_noface.mov", 2, step=160)  # frame 0: a face, 160: none
    tracker = FaceTracker(detector, min_face_size=40, size_fraction=0.5)
    assert tracker.min_face_size() == 40
    face, _ = tracker.update(frames[0])
    short_side = min(face.box[2:] - face.box[:2])
    assert short_side > 150
    assert tracker.min_face_size() == int(0.5 * short_side)
    # Once a full detection finds nothing, the next one searches all sizes again.
    _, status = tracker.update(frames[-1])
    assert status == FrameStatus.NO_FACE
    assert tracker.min_face_size() == 40


def test_low_confidence_keeps_the_tracked_face_but_never_acquires_one(
    detector: FaceDetector, clips_dir: Path
) -> None:
    """WolfgangLanger_Pexels.mp4 frames 84-139: a hand covers much of the face; MTCNN stays above 0.79
    but often below 0.999. The face is acquired on frame 0, where it is clear."""
    frames = read_frames(clips_dir / "WolfgangLanger_Pexels.mp4", 140)
    frames = frames[:1] + frames[84:]
    tracker = FaceTracker(detector, min_prob=0.999)
    statuses = []
    for frame in frames:
        face, status = tracker.update(frame)
        assert face is not None
        assert (status == FrameStatus.OK) == (face.prob >= 0.999)
        statuses.append(status)
    assert statuses[0] == FrameStatus.OK
    assert statuses.count(FrameStatus.LOW_CONFIDENCE) >= 10
    # A fresh tracker does not take a face below min_prob as the patient.
    low = next(frame for frame, status in zip(frames, statuses, strict=True) if status != FrameStatus.OK)
    assert all(face.prob < 0.999 for face in detector.detect(low))
    assert FaceTracker(detector, min_prob=0.999).update(low) == (None, FrameStatus.NO_FACE)


def box_face(box: list[float]) -> Face:
    return Face(np.array(box, np.float32), np.zeros((5, 2), np.float32), 1.0)


def test_patient_score_prefers_large_central_faces() -> None:
    size = (400, 600)
    centre = box_face([250, 150, 350, 250])
    assert patient_score(centre, size) == pytest.approx(100.0)
    assert patient_score(box_face([0, 0, 100, 100]), size) < patient_score(centre, size)
    assert patient_score(box_face([200, 100, 400, 300]), size) == pytest.approx(200.0)
    # A face twice as large wins when it is near the centre, not when it is far off it.
    near = box_face([100, 100, 300, 300])  # centre 100 px left of the image centre; half-diagonal 360.6
    far = box_face([0, 100, 200, 300])  # 200 px left
    assert patient_score(far, size) == pytest.approx(200 * (1 - 200 / np.hypot(300, 200)))
    assert choose_patient([centre, near], size) is near
    assert choose_patient([centre, far], size) is centre


def test_acquisition_chooses_the_largest_face_nearest_the_centre(
    detector: FaceDetector, clips_dir: Path
) -> None:
    """multi_face.jpg: five faces of similar size; the one just right of and below the centre wins."""
    photo = cv2.imread(str(clips_dir / "multi_face.jpg"))
    faces = detector.detect(photo)
    assert len(faces) == 5
    patient = choose_patient(faces, photo.shape[:2])
    assert 530 < (patient.box[0] + patient.box[2]) / 2 < 630
    assert 300 < (patient.box[1] + patient.box[3]) / 2 < 440
    # The largest face by area is a different one (right of the picture): centre distance decides.
    largest = max(faces, key=lambda face: np.prod(face.box[2:] - face.box[:2]))
    assert largest is not patient
    face, status = FaceTracker(detector).update(photo)
    assert status == FrameStatus.OK
    assert iou(face.box, patient.box) > 0.9


def test_tracked_face_is_kept_when_other_faces_appear(detector: FaceDetector, clips_dir: Path) -> None:
    """Acquire the right-hand face alone (rest of the photo greyed out), then show the whole group: the
    tracker stays on it through refinements and periodic window searches."""
    photo = cv2.imread(str(clips_dir / "multi_face.jpg"))
    alone = np.full_like(photo, 128)
    alone[270:440, 660:810] = photo[270:440, 660:810]
    tracker = FaceTracker(detector, redetect_every=3)
    first, _ = tracker.update(alone)
    assert first is not None
    for _ in range(7):
        face, status = tracker.update(photo)
        assert status == FrameStatus.OK
        assert iou(face.box, first.box) > 0.8
    assert (tracker.full_detections, tracker.window_detections) == (1, 2)
    # After reset the tracker re-acquires by the patient rule.
    tracker.reset()
    face, _ = tracker.update(photo)
    assert iou(face.box, choose_patient(detector.detect(photo), photo.shape[:2]).box) > 0.9


def test_window_searches_replace_periodic_full_detections(detector: Detector, clips_dir: Path) -> None:
    """single_face.mp4 searched around the face every 5th frame: no full-frame search after acquisition,
    and the window searches find the faces a full detection finds, as closely as MTCNN finds a face again
    in its own frame shifted by a few pixels (IoU 0.86-1.0, mean 0.94 on this clip)."""
    frames = read_frames(clips_dir / "single_face.mp4", 72)
    tracker = FaceTracker(detector, redetect_every=5)
    results = [tracker.update(frame) for frame in frames]
    assert (tracker.full_detections, tracker.window_detections, tracker.refinements) == (1, 14, 57)
    overlaps = []
    for index in range(5, 72, 5):  # the window searches' frames
        face, status = results[index]
        (truth,) = detector.detect(frames[index])
        assert status is FrameStatus.OK and face is not None
        overlaps.append(iou(face.box, truth.box))
        assert np.abs(face.landmarks - truth.landmarks).max() < 0.1 * (truth.box[2] - truth.box[0])
    assert min(overlaps) >= 0.8 and np.mean(overlaps) >= 0.9


def test_a_lost_face_is_searched_in_the_window_then_in_the_whole_frame(
    detector: Detector, clips_dir: Path
) -> None:
    """face_noface.mov: where the face goes, refinement fails, then the window search, then the full frame;
    with no face known, the next frames are searched whole at once."""
    frames = read_frames(clips_dir / "face_noface.mov", 92)[52:]
    shown = face_shown(frames, face_first=True)
    gone = shown.index(False)
    tracker = FaceTracker(detector)
    counters = []
    for frame in frames[: gone + 2]:
        tracker.update(frame)
        counters.append((tracker.refinements, tracker.window_detections, tracker.full_detections))
    refines, windows, fulls = counters[gone - 1]
    assert counters[gone] == (refines + 1, windows + 1, fulls + 1)
    assert counters[gone + 1] == (refines + 1, windows + 1, fulls + 2)


class CountingDetector(OrtFaceDetector):
    """The torch-free detector, noting how many boxes each `refine_many` call gets."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def refine_many(self, items: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[Face | None]:
        self.batches.append(len(items))
        return super().refine_many(items)


def same_results(ours: list[tuple[Face | None, FrameStatus]], alone: list[tuple[Face | None, FrameStatus]]
                 ) -> None:
    assert [status for _, status in ours] == [status for _, status in alone]
    for (face, _), (reference, _) in zip(ours, alone, strict=True):
        assert (face is None) == (reference is None)
        if face is not None and reference is not None:
            np.testing.assert_allclose(face.box, reference.box, atol=1e-3)
            np.testing.assert_allclose(face.landmarks, reference.landmarks, atol=1e-3)


def test_track_many_gives_each_stream_what_it_gets_alone(clips_dir: Path) -> None:
    """Three beds (three clips, one losing its face) stepped together: each tracker's faces, statuses and
    counts as when it runs alone, with one refine_many call per round for all beds that refine."""
    streams = [read_frames(clips_dir / "single_face.mp4", 30),
               read_frames(clips_dir / "WolfgangLanger_Pexels.mp4", 30, step=3),
               read_frames(clips_dir / "face_noface.mov", 100)[60:90]]
    together = CountingDetector()
    trackers = [FaceTracker(together, redetect_every=10) for _ in streams]
    rounds = [track_many(list(zip(trackers, frames, strict=True))) for frames in zip(*streams, strict=True)]
    alone_detector = OrtFaceDetector()
    for bed, frames in enumerate(streams):
        tracker = FaceTracker(alone_detector, redetect_every=10)
        same_results([results[bed] for results in rounds], [tracker.update(frame) for frame in frames])
        counts = ("full_detections", "window_detections", "refinements")
        assert [getattr(trackers[bed], n) for n in counts] == [getattr(tracker, n) for n in counts]
    assert len(together.batches) <= len(rounds) and max(together.batches) == 3
    assert sum(together.batches) == sum(tracker.refinements for tracker in trackers)


def test_track_many_takes_a_streams_consecutive_frames_in_order(
    detector: Detector, clips_dir: Path
) -> None:
    a_frames = read_frames(clips_dir / "single_face.mp4", 4)
    b_frames = read_frames(clips_dir / "WolfgangLanger_Pexels.mp4", 2)
    a, b = FaceTracker(detector), FaceTracker(detector)
    ours = track_many([(a, a_frames[0]), (a, a_frames[1]), (b, b_frames[0]), (a, a_frames[2]),
                       (b, b_frames[1]), (a, a_frames[3])])
    a_alone, b_alone = FaceTracker(detector), FaceTracker(detector)
    alone = [a_alone.update(a_frames[0]), a_alone.update(a_frames[1]), b_alone.update(b_frames[0]),
             a_alone.update(a_frames[2]), b_alone.update(b_frames[1]), a_alone.update(a_frames[3])]
    same_results(ours, alone)
    assert (a.full_detections, a.refinements, b.full_detections, b.refinements) == (1, 3, 1, 1)
