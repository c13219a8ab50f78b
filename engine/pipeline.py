"""Frames in, `FrameResult`s out: face tracking, alignment, pain scores (and AU probabilities) and smoothing.

Per stream (one bed, one recording) a `StreamAnalyzer` owns the face tracker and the smoother. A `BatchScorer`
owns the model and scores the aligned faces of one frame from each of several streams in one `predict` call,
so a monitor with several beds runs the model once per round; the streams' faces are tracked together too
(engine.tracker.track_many: one RNet and one ONet call for all refinements). `Pipeline` joins both for a
single stream. Nothing here imports torch unless a torch or TensorRT predictor asks for its detector.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from engine.align import PAPER_SIZE, align_face
from engine.applicability import APPLICABLE
from engine.backends import Backend, Predictor, create_predictor
from engine.mtcnn import OrtFaceDetector
from engine.quality import assess
from engine.smoothing import ScoreSmoother
from engine.sources import Frame
from engine.status import FrameStatus
from engine.tracker import FaceTracker, track_many
from engine.types import Detector, Face, FrameResult


def face_detector_for(predictor: Predictor) -> Detector:
    """The MTCNN detector for a predictor: ONNX Runtime's (engine.mtcnn, no torch) for the ONNX Runtime
    backend on the CPU; facenet-pytorch's in torch on the predictor's device otherwise, as TensorRT engines
    when it runs on TensorRT.

    A torch detector sets torch to one thread for the process: per-frame face work is many small ops, and a
    second thread only spin-waits (measured here: 80-112 fps with 1 thread, 3-5 fps with 2 on a busy 2-core
    machine).
    """
    if predictor.name is Backend.ONNX and predictor.device == "cpu":
        return OrtFaceDetector()
    import torch

    from engine.detector import FaceDetector

    torch.set_num_threads(1)
    if predictor.name is Backend.TENSORRT:
        from engine.backends.tensorrt_backend import tensorrt_mtcnn

        return FaceDetector(device=predictor.device, nets=tensorrt_mtcnn())
    return FaceDetector(device=predictor.device)


class StreamAnalyzer:
    """One stream's face tracking, alignment to the model's input size, and score smoothing.

    `locate` (`locate_many` for several streams) finds and aligns the patient's face in a frame; `finish`
    attaches the model's score. Frames of one stream must pass through both in order.
    """

    def __init__(
        self,
        tracker: FaceTracker,
        input_size: tuple[int, int],
        smoothing_s: float = 0.0,
        keep_aligned: bool = False,
    ) -> None:
        self.tracker = tracker
        self.input_size = input_size
        self.smoother = ScoreSmoother(smoothing_s)
        self.keep_aligned = keep_aligned
        self.seconds = {"face": 0.0, "align": 0.0}  # time spent per stage, for status displays and benchmarks

    def locate(self, frame: Frame) -> FrameResult:
        """Track the face and, when it is confidently found, align it and assess its quality; only a usable
        face (status OK) keeps its crop for the model. The result has no score yet."""
        return self.locate_many([(self, frame)])[0]

    @staticmethod
    def locate_many(jobs: Sequence[tuple[StreamAnalyzer, Frame]]) -> list[FrameResult]:
        """`locate` for each (stream, frame), the faces of all tracked together (engine.tracker.track_many);
        each job counts an equal share of the tracking time as its stream's face time. A stream may appear
        several times (consecutive frames, in order)."""
        start = time.perf_counter()
        tracked = track_many([(stream.tracker, frame.image) for stream, frame in jobs])
        share = (time.perf_counter() - start) / max(len(jobs), 1)
        results = []
        for (stream, frame), (face, status) in zip(jobs, tracked, strict=True):
            stream.seconds["face"] += share
            results.append(stream._align(frame, face, status))
        return results

    def _align(self, frame: Frame, face: Face | None, status: FrameStatus) -> FrameResult:
        """The located frame's result: the face aligned and its quality assessed when it is OK."""
        aligned_at = time.perf_counter()
        result = FrameResult(frame.index, frame.timestamp, status, face=face)
        if status is FrameStatus.OK and face is not None:
            aligned = align_face(frame.image, face.landmarks, self.input_size)
            paper = aligned if self.input_size == PAPER_SIZE else align_face(frame.image, face.landmarks,
                                                                                PAPER_SIZE)
            quality = assess(face.landmarks, paper)
            result.quality, result.quality_reason = quality.value, quality.reason
            if quality.usable:
                result.aligned = aligned
            else:
                result.status = FrameStatus.LOW_QUALITY
        self.seconds["align"] += time.perf_counter() - aligned_at
        return result

    def finish(self, result: FrameResult, score: float, aus: dict[int, float] | None = None) -> FrameResult:
        """Attach the model's raw score (NaN for frames without one), smoothed, and its AU probabilities (as
        they are); drop the crop unless kept."""
        result.score = self.smoother.update(result.timestamp, score)
        result.aus = aus
        if not self.keep_aligned:
            result.aligned = None
        return result

    def reset(self) -> None:
        """Start afresh (new patient or recording): forget the tracked face and the smoothing history."""
        self.tracker.reset()
        self.smoother.reset()


class BatchScorer:
    """Owns the model: scores the faces of one frame from each of several streams in one batch."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.seconds = 0.0  # time spent in predict
        self.faces_scored = 0

    def analyze(self, jobs: Sequence[tuple[StreamAnalyzer, Frame]]) -> list[FrameResult]:
        """Analyse one frame per (stream, frame) pair: locate all faces (tracked together), run the model on
        all faces at once, keep the scores of faces the model applies to (engine.applicability), finish.

        A stream may appear several times (consecutive frames, in order) to batch a recording.
        """
        located = StreamAnalyzer.locate_many(jobs)
        scores = np.full(len(jobs), math.nan, dtype=np.float32)
        aus: list[dict[int, float] | None] = [None] * len(jobs)
        aligned = {i: result.aligned for i, result in enumerate(located) if result.aligned is not None}
        faces = list(aligned)
        if faces:
            start = time.perf_counter()
            prediction = self.predictor.predict_outputs(np.stack(list(aligned.values())))
            self.seconds += time.perf_counter() - start
            self.faces_scored += len(faces)
            applies = self._applicability(prediction.features)
            for row, i in enumerate(faces):
                located[i].applicability = float(applies[row])
                if applies[row] < APPLICABLE:
                    located[i].status = FrameStatus.NOT_APPLICABLE
                    continue
                scores[i] = prediction.scores[row]
                if prediction.aus is not None:
                    aus[i] = dict(zip(self.predictor.aus, prediction.aus[row].tolist(), strict=True))
        return [
            stream.finish(result, float(score), au)
            for (stream, _), result, score, au in zip(jobs, located, scores, aus, strict=True)
        ]

    def _applicability(self, features: np.ndarray) -> np.ndarray:
        """Each face's applicability; NaN (unknown, so scored) for a model without a description."""
        description = self.predictor.applicability
        return np.full(len(features), math.nan) if description is None else description.value(features)


class Pipeline:
    """A single stream end to end: MTCNN tracking, alignment, one model, optional smoothing."""

    def __init__(self, predictor: Predictor, stream: StreamAnalyzer) -> None:
        self.scorer = BatchScorer(predictor)
        self.stream = stream

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: str | Path,
        backend: str = Backend.AUTO,
        device: str | None = None,
        smoothing_s: float = 0.0,
        keep_aligned: bool = False,
    ) -> Pipeline:
        """Build the detector, tracker and predictor for a painmon checkpoint."""
        predictor = create_predictor(checkpoint, backend=backend, device=device)
        tracker = FaceTracker(face_detector_for(predictor))
        return cls(predictor, StreamAnalyzer(tracker, predictor.input_size, smoothing_s, keep_aligned))

    def process(self, frame: Frame) -> FrameResult:
        """Analyse one frame."""
        return self.scorer.analyze([(self.stream, frame)])[0]

    def run(self, frames: Iterable[Frame]) -> Iterator[FrameResult]:
        """Analyse frames one by one as they come (a live source or a recording)."""
        for frame in frames:
            yield self.process(frame)

    def stage_seconds(self) -> dict[str, float]:
        """Total seconds spent so far in each stage: face (detect/track), align, predict."""
        return {**self.stream.seconds, "predict": self.scorer.seconds}
