"""The engine pipeline on real face video: tracking, alignment, scoring, gaps, batching across streams, and
the torch-free face stage against facenet-pytorch's."""

from __future__ import annotations

import dataclasses
import math
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from engine.backends import create_predictor
from engine.detector import FaceDetector
from engine.mtcnn import OrtFaceDetector
from engine.paths import DEMO_MODEL
from engine.pipeline import BatchScorer, Pipeline, StreamAnalyzer, face_detector_for
from engine.sources import Frame, open_source
from engine.status import FrameStatus
from engine.tracker import FaceTracker
from engine.types import Detector, FrameResult
from tests.helpers import save_random_checkpoint


@pytest.fixture(scope="module")
def predictor(tmp_path_factory: pytest.TempPathFactory):
    """ONNX Runtime predictor of a random small model, exported once for the module."""
    folder = tmp_path_factory.mktemp("model")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PAINMON_CACHE_DIR", str(folder / "cache"))
        return create_predictor(save_random_checkpoint(folder / "random.safetensors"), backend="onnx")


@pytest.fixture(scope="module")
def detector(predictor) -> Detector:
    """The face detector the pipeline gives an ONNX Runtime predictor on the CPU: the torch-free one."""
    return face_detector_for(predictor)


def stream(detector: Detector, predictor, **options) -> StreamAnalyzer:
    return StreamAnalyzer(FaceTracker(detector), predictor.input_size, **options)


def clip_frames(path: Path, count: int | None = None) -> list[Frame]:
    with open_source(path) as source:
        return list(islice(source, count))


def covered(frame: Frame, box: np.ndarray) -> Frame:
    """The frame with the face in `box` hidden behind a flat patch, as a hand or a blanket would hide it."""
    image = frame.image.copy()
    x1, y1, x2, y2 = box
    pad_x, pad_y = 0.25 * (x2 - x1), 0.25 * (y2 - y1)
    top, left = max(int(y1 - pad_y), 0), max(int(x1 - pad_x), 0)
    image[top : int(y2 + pad_y), left : int(x2 + pad_x)] = image.mean(axis=(0, 1))
    return dataclasses.replace(frame, image=image)


@pytest.fixture(scope="module")
def single_face(clips_dir: Path) -> list[Frame]:
    return clip_frames(clips_dir / "single_face.mp4")


@pytest.fixture(scope="module")
def single_face_results(single_face: list[Frame], detector: Detector, predictor) -> list[FrameResult]:
    return list(Pipeline(predictor, stream(detector, predictor)).run(single_face))


def test_every_frame_gets_a_result_in_order(single_face: list[Frame], single_face_results: list[FrameResult]):
    assert [r.index for r in single_face_results] == [f.index for f in single_face] == list(range(72))
    assert [r.timestamp for r in single_face_results] == [f.timestamp for f in single_face]


def test_faces_get_scores_and_gaps_do_not(single_face_results: list[FrameResult]):
    ok = [r for r in single_face_results if r.status is FrameStatus.OK]
    assert len(ok) >= 0.95 * len(single_face_results)
    for result in single_face_results:
        if result.status is FrameStatus.OK:
            assert 0.0 <= result.score <= 5.0
            x1, y1, x2, y2 = result.face.box
            assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 360
            inside = (result.face.landmarks >= [x1, y1]) & (result.face.landmarks <= [x2, y2])
            assert inside.all()
        else:
            assert math.isnan(result.score)
        assert result.aligned is None  # crops are dropped unless asked for


def test_aligned_faces_kept_on_request_match_the_model_input(single_face: list[Frame], detector, predictor):
    pipeline = Pipeline(predictor, stream(detector, predictor, keep_aligned=True))
    results = list(pipeline.run(single_face[:5]))
    h, w = predictor.input_size
    for result in results:
        assert result.aligned.shape == (h, w, 3) and result.aligned.dtype == np.uint8
        # the score is the model's on exactly that crop
        assert result.score == pytest.approx(float(predictor.predict(result.aligned[None])[0]), abs=1e-5)


def test_no_face_video_has_no_scores(clips_dir: Path, detector, predictor):
    frames = clip_frames(clips_dir / "no_face.mp4", 5)
    results = list(Pipeline(predictor, stream(detector, predictor)).run(frames))
    assert all(r.status is FrameStatus.NO_FACE and math.isnan(r.score) and r.face is None for r in results)


def test_batching_streams_gives_each_stream_its_own_results(
    single_face: list[Frame], single_face_results: list[FrameResult], clips_dir: Path, detector, predictor
):
    # Two beds in one worker, one predict call per round; bed B's face is covered for three frames.
    other = clip_frames(clips_dir / "WolfgangLanger_Pexels.mp4", 12)
    other[4:7] = [covered(frame, detector.detect(frame.image)[0].box) for frame in other[4:7]]
    other_alone = list(Pipeline(predictor, stream(detector, predictor)).run(other))
    scorer = BatchScorer(predictor)
    bed_a, bed_b = stream(detector, predictor), stream(detector, predictor)
    rounds = [scorer.analyze([(bed_a, a), (bed_b, b)]) for a, b in zip(single_face, other, strict=False)]
    for pair, alone in zip(rounds, zip(single_face_results, other_alone, strict=False), strict=True):
        for together, reference in zip(pair, alone, strict=True):
            assert (together.index, together.status) == (reference.index, reference.status)
            np.testing.assert_allclose(together.score, reference.score, atol=1e-5, equal_nan=True)
    statuses_b = [pair[1].status for pair in rounds]
    assert statuses_b[4:7] == [FrameStatus.NO_FACE] * 3 and statuses_b.count(FrameStatus.OK) == 9
    assert scorer.faces_scored == sum(r.status is FrameStatus.OK for pair in rounds for r in pair)
    scores_a, scores_b = (np.array([pair[i].score for pair in rounds]) for i in (0, 1))
    assert not np.allclose(scores_a[:4], scores_b[:4])  # different faces, different scores


def test_consecutive_frames_of_one_stream_batch_like_one_by_one(
    single_face: list[Frame], single_face_results: list[FrameResult], detector, predictor
):
    bed = stream(detector, predictor)
    batched = BatchScorer(predictor).analyze([(bed, frame) for frame in single_face[:8]])
    np.testing.assert_allclose([r.score for r in batched], [r.score for r in single_face_results[:8]],
                               atol=1e-5, equal_nan=True)


def test_smoothing_never_bridges_a_covered_face(
    single_face: list[Frame], single_face_results: list[FrameResult], detector, predictor
):
    frames = single_face[:36]
    frames[16:19] = [covered(frames[i], single_face_results[i].face.box) for i in (16, 17, 18)]
    raw = list(Pipeline(predictor, stream(detector, predictor)).run(frames))
    smooth = list(Pipeline(predictor, stream(detector, predictor, smoothing_s=0.5)).run(frames))
    raw_scores, smooth_scores = (np.array([r.score for r in results]) for results in (raw, smooth))
    assert np.isnan(raw_scores[16:19]).all() and not np.isnan(np.delete(raw_scores, [16, 17, 18])).any()
    np.testing.assert_array_equal(np.isnan(smooth_scores), np.isnan(raw_scores))
    # The first score on either side of the gap is the raw one: nothing from before the gap leaks in.
    np.testing.assert_allclose(smooth_scores[[0, 19]], raw_scores[[0, 19]], rtol=1e-6)
    assert not np.allclose(smooth_scores[20:], raw_scores[20:])
    assert np.std(np.diff(smooth_scores[19:])) < np.std(np.diff(raw_scores[19:]))


def test_stage_times_are_counted(single_face: list[Frame], detector, predictor):
    pipeline = Pipeline(predictor, stream(detector, predictor))
    list(pipeline.run(single_face[:4]))
    seconds = pipeline.stage_seconds()
    assert set(seconds) == {"face", "align", "predict"} and all(v > 0 for v in seconds.values())


def test_each_backend_gets_its_face_detector(tmp_path: Path, predictor) -> None:
    """ONNX Runtime on the CPU: the torch-free detector; torch (the "before" path): facenet-pytorch's."""
    assert isinstance(face_detector_for(predictor), OrtFaceDetector)
    checkpoint = save_random_checkpoint(tmp_path / "random.safetensors")
    assert isinstance(face_detector_for(create_predictor(checkpoint, backend="torch")), FaceDetector)


def test_torch_free_face_stage_scores_like_facenet_pytorchs(single_face: list[Frame]) -> None:
    """single_face.mp4 through the demo model on ONNX Runtime, with the torch-free face stage and with
    facenet-pytorch's: the same statuses and faces (landmarks 2e-4 px apart), aligned crops at most one grey
    level apart (a dozen of 32,256 values), so the model's scores differ at most 2.7e-3 (mean 5e-4), as
    they do for ±1 noise on as many values. The demo model finds these real faces outside its training
    faces (NOT_APPLICABLE, no score in the result): the scores compared are the model's on the crops."""
    predictor = create_predictor(DEMO_MODEL, backend="onnx")
    runs = [list(Pipeline(predictor, StreamAnalyzer(FaceTracker(detector), predictor.input_size,
                                                    keep_aligned=True)).run(single_face))
            for detector in (face_detector_for(predictor), FaceDetector())]
    ours, theirs = runs
    assert [r.status for r in ours] == [r.status for r in theirs]
    assert all(r.face is not None and r.aligned is not None for r in ours + theirs)
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine.face.landmarks, reference.face.landmarks, atol=1e-2)
        assert np.abs(mine.aligned.astype(np.int16) - reference.aligned).max() <= 1
        assert mine.applicability == pytest.approx(reference.applicability, abs=1e-3)
    scores = [predictor.predict(np.stack([r.aligned for r in run])) for run in runs]
    differences = np.abs(scores[0] - scores[1])
    assert differences.max() < 5e-3 and differences.mean() < 1e-3
