"""The engine pipeline on real face video: tracking, alignment, scoring, gaps, batching across streams."""

from __future__ import annotations

import math
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.backends import create_predictor
from engine.checkpoint import ModelCard, save_checkpoint
from engine.detector import FaceDetector
from engine.model import PainRegressor
from engine.pipeline import BatchScorer, Pipeline, StreamAnalyzer
from engine.sources import Frame, open_source
from engine.tracker import FaceTracker
from engine.types import FaceStatus, FrameResult


def save_random_checkpoint(folder: Path) -> Path:
    """A checkpoint of the small CPU backbone with random (seeded) weights."""
    torch.manual_seed(0)
    model = PainRegressor("face_cnn_small", pretrained=None).eval()
    card = ModelCard.for_model(model, name="test-random", version="0", trained_on="random weights")
    return save_checkpoint(folder / "random.safetensors", model, card)


@pytest.fixture(scope="module")
def predictor(tmp_path_factory: pytest.TempPathFactory):
    """ONNX Runtime predictor of a random small model, exported once for the module."""
    folder = tmp_path_factory.mktemp("model")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PAINMON_CACHE_DIR", str(folder / "cache"))
        return create_predictor(save_random_checkpoint(folder), backend="onnx")


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


def stream(detector: FaceDetector, predictor, **options) -> StreamAnalyzer:
    return StreamAnalyzer(FaceTracker(detector), predictor.input_size, **options)


def clip_frames(path: Path, count: int | None = None) -> list[Frame]:
    with open_source(path) as source:
        return list(islice(source, count))


@pytest.fixture(scope="module")
def single_face(clips_dir: Path) -> list[Frame]:
    return clip_frames(clips_dir / "single_face.mp4")


@pytest.fixture(scope="module")
def single_face_results(single_face: list[Frame], detector: FaceDetector, predictor) -> list[FrameResult]:
    return list(Pipeline(predictor, stream(detector, predictor)).run(single_face))


def test_every_frame_gets_a_result_in_order(single_face: list[Frame], single_face_results: list[FrameResult]):
    assert [r.index for r in single_face_results] == [f.index for f in single_face] == list(range(72))
    assert [r.timestamp for r in single_face_results] == [f.timestamp for f in single_face]


def test_faces_get_scores_and_gaps_do_not(single_face_results: list[FrameResult]):
    ok = [r for r in single_face_results if r.status is FaceStatus.OK]
    assert len(ok) >= 0.95 * len(single_face_results)
    for result in single_face_results:
        if result.status is FaceStatus.OK:
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
    frames = clip_frames(clips_dir / "no_face.mp4", 20)
    results = list(Pipeline(predictor, stream(detector, predictor)).run(frames))
    assert all(r.status is FaceStatus.NO_FACE and math.isnan(r.score) and r.face is None for r in results)


def test_batching_streams_gives_each_stream_its_own_results(
    single_face: list[Frame], single_face_results: list[FrameResult], clips_dir: Path, detector, predictor
):
    # Two beds in one worker: one with a face, one without; one predict call per round.
    empty = clip_frames(clips_dir / "no_face.mp4", 12)
    scorer = BatchScorer(predictor)
    bed_a, bed_b = stream(detector, predictor), stream(detector, predictor)
    rounds = [scorer.analyze([(bed_a, a), (bed_b, b)]) for a, b in zip(single_face, empty, strict=False)]
    alone = single_face_results[: len(rounds)]
    for (a, b), reference in zip(rounds, alone, strict=True):
        assert (a.index, a.status) == (reference.index, reference.status)
        np.testing.assert_allclose(a.score, reference.score, atol=1e-5, equal_nan=True)
        assert b.status is FaceStatus.NO_FACE and math.isnan(b.score)
    assert scorer.faces_scored == sum(r.status is FaceStatus.OK for r in alone)


def test_consecutive_frames_of_one_stream_batch_like_one_by_one(
    single_face: list[Frame], single_face_results: list[FrameResult], detector, predictor
):
    bed = stream(detector, predictor)
    batched = BatchScorer(predictor).analyze([(bed, frame) for frame in single_face[:8]])
    np.testing.assert_allclose([r.score for r in batched], [r.score for r in single_face_results[:8]],
                               atol=1e-5, equal_nan=True)


def test_smoothing_never_bridges_the_face_disappearing(clips_dir: Path, detector, predictor):
    frames = clip_frames(clips_dir / "face_noface.mov")
    raw = list(Pipeline(predictor, stream(detector, predictor)).run(frames))
    smooth = list(Pipeline(predictor, stream(detector, predictor, smoothing_s=1.0)).run(frames))
    raw_scores = np.array([r.score for r in raw])
    smooth_scores = np.array([r.score for r in smooth])
    gaps = np.isnan(raw_scores)
    assert gaps.any() and not gaps.all()  # the face is there, then gone
    np.testing.assert_array_equal(np.isnan(smooth_scores), gaps)
    starts = np.flatnonzero(~gaps & np.r_[True, gaps[:-1]])  # first scored frame of each run
    np.testing.assert_allclose(smooth_scores[starts], raw_scores[starts], rtol=1e-6)
    assert np.nanstd(np.diff(smooth_scores)) < np.nanstd(np.diff(raw_scores))


def test_stage_times_are_counted(single_face: list[Frame], detector, predictor):
    pipeline = Pipeline(predictor, stream(detector, predictor))
    list(pipeline.run(single_face[:4]))
    seconds = pipeline.stage_seconds()
    assert set(seconds) == {"face", "align", "predict"} and all(v > 0 for v in seconds.values())
