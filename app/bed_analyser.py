"""The engine side of the inference worker: the face detector, one face track per bed and the model, which
scores every bed's face (with its AU probabilities, for a model with AUs) in one batched call per round.
Imports torch, so the worker imports it lazily."""

from __future__ import annotations

from pathlib import Path

from app.handoff import AnalysedFrame, CapturedFrame, ModelInfo, Sample
from app.settings import MonitorSettings
from engine.backends import create_predictor
from engine.errors import ModelFileError
from engine.model_card import read_au_thresholds, read_card
from engine.pipeline import BatchScorer, StreamAnalyzer, face_detector_for
from engine.sources import Frame
from engine.tracker import FaceTracker


class BedAnalyser:
    """Tracks, aligns and scores the newest frame of each bed."""

    def __init__(self, settings: MonitorSettings, smoothing_s: float) -> None:
        """Load the detector and the model (a PainmonError with a one-line reason when impossible)."""
        path = settings.model_path
        if not Path(path).is_file():
            raise ModelFileError(f"model file not found: {path} (choose a model in Settings)")
        card = read_card(path)
        predictor = create_predictor(path, backend=settings.backend, device=settings.device or None)
        self.info = ModelInfo(path, card, predictor.name, predictor.device, read_au_thresholds(path))
        self.detector = face_detector_for(predictor)
        self.scorer = BatchScorer(predictor)
        self.smoothing_s = smoothing_s
        self.streams: dict[str, StreamAnalyzer] = {}

    def forget(self, bed_id: str) -> None:
        """Drop a bed's face track and smoothing: its next frame starts afresh."""
        self.streams.pop(bed_id, None)

    def analyse(self, frames: list[CapturedFrame]) -> list[AnalysedFrame]:
        """One frame per bed in, their results out; the faces are scored in one model call."""
        jobs = []
        for frame in frames:
            stream = self.streams.get(frame.bed_id)
            if stream is None:
                stream = StreamAnalyzer(FaceTracker(self.detector), self.scorer.predictor.input_size,
                                        self.smoothing_s)
                self.streams[frame.bed_id] = stream
            jobs.append((stream, Frame(frame.index, frame.t, frame.image)))
        return [AnalysedFrame(f.bed_id, f.image, r.face,
                              Sample(f.t, r.score, r.status, r.quality_reason, r.quality), r.aus)
                for f, r in zip(frames, self.scorer.analyze(jobs), strict=True)]
