"""The monitor's worker threads: one capture worker per bed, one inference worker for all beds.

A `CaptureWorker` (a QObject whose loop runs in its own thread) reads its bed's source, stamps each frame
with the wall clock and emits `frame_captured(bed_id, image, t)`, which lands in `FrameSlots`: one slot per
bed holding only the newest frame, so a slow model drops frames (counted) instead of queueing them. The
`InferenceWorker` owns the model: each round it takes the newest frame of every bed, tracks and aligns
the faces per bed and scores them all in one batch (`engine.pipeline.BatchScorer`), then publishes the
results to `Results`, which the GUI drains on its display timer. Nothing here blocks the GUI thread.
The values handed between the threads are in `app.handoff`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections import Counter
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.beds import Source, SourceKind
from app.handoff import AnalysedFrame, CapturedFrame, ModelInfo, Sample, wall_clock
from app.settings import MonitorSettings
from app.video_recording import VideoRecorder
from engine.backends import Backend
from engine.errors import PainmonError
from engine.sources import VideoSource, open_source
from engine.status import FrameStatus

if TYPE_CHECKING:
    from app.bed_analyser import BedAnalyser
    from engine.tensorrt.engines import BackgroundBuild

log = logging.getLogger(__name__)

RETRY_S = 5.0
"""How often a lost camera or stream is reopened."""
RECORDING_FPS = 15.0
"""Nominal frame rate of a recording whose source does not say (the sidecar has the true times)."""

# -- capture ------------------------------------------------------------------------------------------
def source_spec(source: Source) -> str:
    """What `engine.sources.open_source` takes for a bed's source."""
    return f"simulated:{source.seed}" if source.kind is SourceKind.SIMULATED else source.location


class CaptureWorker(QObject):
    """Reads one bed's source in its own thread until stopped.

    Emits `frame_captured(bed_id, image, t)` for every frame (t: `wall_clock()` at capture) and
    `source_state(bed_id, delivering, message)` when the source starts delivering or is lost. Lost cameras
    and streams, and sources that cannot be opened, are retried every `retry_s`. A video file that plays to
    its end emits `source_ended(bed_id)` and the worker finishes, unless it `loop`s: then it plays again from
    the start. Recorded files are played at their own pace, as if live. With a `record_to` folder the frames
    are also recorded there (`VideoRecorder`).
    """

    frame_captured = Signal(str, object, float)
    source_state = Signal(str, bool, str)
    source_ended = Signal(str)
    finished = Signal()

    def __init__(self, bed_id: str, source: Source, *, retry_s: float = RETRY_S,
                 record_to: Path | None = None, loop: bool = False) -> None:
        super().__init__()
        self.bed_id = bed_id
        self.source = source
        self.retry_s = retry_s
        self.record_to = record_to
        self.loop = loop
        self.recorder: VideoRecorder | None = None
        self._stop = threading.Event()
        self._delivering: bool | None = None

    def stop(self) -> None:
        """Ask the worker to stop after the frame it is reading (thread-safe)."""
        self._stop.set()

    def run(self) -> None:
        """Capture until stopped (the worker thread's body)."""
        try:
            self._loop()
        finally:
            if self.recorder is not None:
                self.recorder.close()
            self.finished.emit()

    def _loop(self) -> None:
        name = self.source.describe()
        while not self._stop.is_set():
            try:
                source = open_source(source_spec(self.source))
            except Exception as exc:  # a source that cannot be opened is a lost source, not a dead worker
                reason = str(exc) if isinstance(exc, PainmonError) else f"{name}: {type(exc).__name__}: {exc}"
                self._report(False, f"{reason}; retrying every {self.retry_s:g} s")
                self._stop.wait(self.retry_s)
                continue
            read = 0
            try:
                read = self._read_all(source)
                why = source.early_end
            except Exception as exc:  # a decoder or driver failure is a lost source, not a dead worker
                why = f"{name} failed: {type(exc).__name__}: {exc}"
            finally:
                source.close()
            if self._stop.is_set():
                return
            if source.kind == "file" and why is None:
                if self.loop and read:  # a file without frames would loop without end
                    continue
                self.source_ended.emit(self.bed_id)
                return
            self._report(False, f"{why or f'{name} stopped delivering frames'}; retrying every "
                                f"{self.retry_s:g} s")
            self._stop.wait(self.retry_s)

    def _read_all(self, source: VideoSource) -> int:
        """Deliver the source's frames until it ends or the worker stops; returns how many it delivered."""
        started = time.monotonic()
        if self.record_to is not None and self.recorder is None:  # a reconnected source continues it
            self.recorder = VideoRecorder(self.record_to, self.bed_id, source.fps or RECORDING_FPS)
        read = 0
        while not self._stop.is_set():
            frame = source.read()
            if frame is None:
                return read
            read += 1
            if not source.is_live:  # a recording: wait until the frame is due
                self._stop.wait(max(0.0, started + frame.timestamp - time.monotonic()))
            t = wall_clock()
            self._report(True, "")
            if self.recorder is not None:
                self.recorder.add(frame.image, t)
            self.frame_captured.emit(self.bed_id, frame.image, t)
        return read

    def _report(self, delivering: bool, message: str) -> None:
        if delivering != self._delivering:
            self._delivering = delivering
            self.source_state.emit(self.bed_id, delivering, message)


class FrameSlots:
    """The newest captured frame of each bed (thread-safe). A frame replaced before the inference worker
    took it is dropped and counted."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._latest: dict[str, CapturedFrame] = {}
        self._captured: Counter[str] = Counter()
        self._dropped: Counter[str] = Counter()
        self._newest: dict[str, float] = {}

    def put(self, bed_id: str, image: np.ndarray, t: float) -> None:
        """Offer a bed's newest frame (called from its capture thread)."""
        with self._ready:
            if bed_id in self._latest:
                self._dropped[bed_id] += 1
            self._latest[bed_id] = CapturedFrame(bed_id, self._captured[bed_id], t, image)
            self._captured[bed_id] += 1
            self._newest[bed_id] = t
            self._ready.notify()

    def take(self, timeout: float) -> list[CapturedFrame]:
        """Take the newest frame of every bed that has one, waiting up to `timeout` s for the first."""
        with self._ready:
            if not self._latest:
                self._ready.wait(timeout)
            frames = list(self._latest.values())
            self._latest.clear()
        return frames

    def discard(self, bed_id: str) -> None:
        """Forget a bed's waiting frame (its capture stopped)."""
        with self._ready:
            self._latest.pop(bed_id, None)

    def newest(self, bed_id: str) -> float:
        """Capture time of a bed's newest frame so far (-inf before its first)."""
        with self._ready:
            return self._newest.get(bed_id, -math.inf)

    def counts(self, bed_id: str) -> tuple[int, int]:
        """Frames captured and frames dropped unanalysed for a bed so far."""
        with self._ready:
            return self._captured[bed_id], self._dropped[bed_id]


# -- inference ----------------------------------------------------------------------------------------
class Results:
    """Analysis results waiting for the GUI (thread-safe): every sample, and the newest frame, per bed.

    Only the newest image per bed is kept, so memory stays bounded however long the GUI takes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: dict[str, list[Sample]] = {}
        self._latest: dict[str, AnalysedFrame] = {}

    def publish(self, frames: list[AnalysedFrame]) -> None:
        """Add a round of results (inference thread)."""
        with self._lock:
            for frame in frames:
                self._samples.setdefault(frame.bed_id, []).append(frame.sample)
                self._latest[frame.bed_id] = frame

    def drain(self) -> tuple[dict[str, list[Sample]], dict[str, AnalysedFrame]]:
        """Everything published since the last drain: samples per bed, newest frame per bed."""
        with self._lock:
            samples, latest = self._samples, self._latest
            self._samples, self._latest = {}, {}
        return samples, latest


class InferenceWorker(QObject):
    """Owns the face detector and the model (a `BedAnalyser`); analyses the newest frame of every bed in
    rounds.

    Emits `model_loaded(ModelInfo)` once the model is loaded or has failed to load. With a `fallback` model
    (the monitor's start-up: the bundled demo model), a model that fails to load is replaced by it, and the
    info's `notice` says why. Without a model (or when a round fails) frames are still published, with
    status MODEL_ERROR and the reason, so the beds keep showing video and raise a technical alarm.
    """

    model_loaded = Signal(object)
    finished = Signal()

    def __init__(self, slots: FrameSlots, results: Results, settings: MonitorSettings,
                 smoothing_s: float = 0.5, fallback: Path | None = None) -> None:
        super().__init__()
        self.slots = slots
        self.results = results
        self.settings = settings
        self.fallback = fallback
        self.smoothing_s = smoothing_s
        self.rounds = 0
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._lock = threading.Lock()
        self._forget: set[str] = set()
        self.engine_build: BackgroundBuild | None = None

    def stop(self) -> None:
        """Ask the worker to stop after the current round (thread-safe)."""
        self._stop.set()

    def forget(self, bed_id: str) -> None:
        """Drop a bed's face track and smoothing (its source changed or it was removed; thread-safe)."""
        with self._lock:
            self._forget.add(bed_id)

    def run(self) -> None:
        """Load the model, then analyse rounds until stopped (the worker thread's body)."""
        try:
            analyser, error = self._load()
            self.engine_build = self._build_engines()
            while not self._stop.is_set():
                if self._reload.is_set():  # the background TensorRT build finished: switch to it
                    self._reload.clear()
                    analyser, error = self._load()
                frames = self.slots.take(timeout=0.1)
                with self._lock:
                    forget, self._forget = self._forget, set()
                for bed_id in forget:
                    if analyser is not None:
                        analyser.forget(bed_id)
                if not frames:
                    continue
                if analyser is None:
                    self.results.publish(_failed(frames, error))
                else:
                    self.results.publish(self._analyse(analyser, frames))
                self.rounds += 1
        finally:
            self.finished.emit()

    def _load(self) -> tuple[BedAnalyser | None, str]:
        """Load the model (or the fallback in its place, once) and emit `model_loaded`."""
        analyser, error = _analyser(self.settings, self.smoothing_s)
        fallback, self.fallback = self.fallback, None
        if analyser is None and fallback is not None and Path(self.settings.model_path) != fallback:
            settings = dataclasses.replace(self.settings, model_path=str(fallback))
            analyser, _ = _analyser(settings, self.smoothing_s)
            if analyser is not None:  # a later reload (TensorRT ready) loads the model that runs
                self.settings = settings
                analyser.info = dataclasses.replace(
                    analyser.info, notice=f"Running the bundled demo model instead: {error}")
        if analyser is None:
            self.model_loaded.emit(ModelInfo(self.settings.model_path, error=error))
            return None, error
        self.model_loaded.emit(analyser.info)
        return analyser, ""

    def _build_engines(self) -> BackgroundBuild | None:
        """On a GPU where TensorRT runs but this model's engines are not built yet (backend auto), build and
        verify them in the background while the current backend keeps analysing, then switch to TensorRT."""
        if self.settings.backend != Backend.AUTO:
            return None
        from engine.backends.select import tensorrt_unavailable

        model = Path(self.settings.model_path)
        if not model.is_file() or tensorrt_unavailable() is not None or tensorrt_unavailable(model) is None:
            return None
        from engine.tensorrt.engines import build_in_background

        log.warning("building TensorRT engines for %s in the background", model.name)
        return build_in_background(model, on_done=self._engines_built)

    def _engines_built(self, future: Future) -> None:
        if future.cancelled() or future.exception() is not None:
            log.warning("TensorRT engines not built (%s); staying on the current backend",
                        "cancelled" if future.cancelled() else future.exception())
            return
        self._reload.set()

    @staticmethod
    def _analyse(analyser: BedAnalyser, frames: list[CapturedFrame]) -> list[AnalysedFrame]:
        try:
            return analyser.analyse(frames)
        except Exception as exc:  # a failing model must not stop the monitor: it becomes a technical alarm
            for frame in frames:
                analyser.forget(frame.bed_id)
            return _failed(frames, f"model error: {type(exc).__name__}: {exc}")


class ModelCheck(QObject):
    """Checks a model before the monitor switches to it, in its own thread: loads it through the engine and
    runs `painmon --self-test`'s check (`engine.self_test.check`) on the simulated patient with it.

    Emits `done(settings, failure)`: failure is None when the model passed, else why not, in one line.
    """

    done = Signal(object, object)

    def __init__(self, settings: MonitorSettings) -> None:
        super().__init__()
        self.settings = settings

    def run(self) -> None:
        """Load and self-test the model (the thread's body)."""
        self.done.emit(self.settings, model_failure(self.settings))


def model_failure(settings: MonitorSettings) -> str | None:
    """Why the model, backend and device of `settings` fail the self-test, in one line (None if they pass)."""
    try:
        from engine.self_test import check  # the engine (torch, MTCNN) loads on the calling thread

        _, failure = check(model=Path(settings.model_path), backend=settings.backend,
                           device=settings.device or None)
    except PainmonError as exc:
        failure = str(exc)
    except Exception as exc:  # a model that breaks the engine is refused, never a crash
        failure = f"cannot load model {settings.model_path}: {type(exc).__name__}: {exc}"
    return " ".join(failure.split()) if failure is not None else None


def _analyser(settings: MonitorSettings, smoothing_s: float) -> tuple[BedAnalyser | None, str]:
    """The detector and model for `settings`, or None and why they could not be loaded (one line)."""
    try:
        from app.bed_analyser import BedAnalyser  # the engine (torch, MTCNN) loads on the worker's thread

        return BedAnalyser(settings, smoothing_s), ""
    except PainmonError as exc:
        return None, str(exc)
    except Exception as exc:  # shown in the UI and as a technical alarm, never a crash
        return None, f"cannot load model {settings.model_path}: {type(exc).__name__}: {exc}"


def _failed(frames: list[CapturedFrame], message: str) -> list[AnalysedFrame]:
    """Frames the model did not score, with the reason."""
    return [AnalysedFrame(f.bed_id, f.image, None, Sample(f.t, math.nan, FrameStatus.MODEL_ERROR, message))
            for f in frames]


def start_worker(worker: CaptureWorker | InferenceWorker | ModelCheck) -> threading.Thread:
    """Run a worker's loop in a new daemon thread.

    Not a QThread: a worker can be stuck in a camera read or a model load that cannot be interrupted, and a
    QThread still running when the process exits aborts it, whereas a daemon thread just ends with it. The
    worker stays a QObject: its signals reach the GUI thread through queued connections as from a QThread.
    """
    thread = threading.Thread(target=worker.run, name=f"{type(worker).__name__}", daemon=True)
    thread.start()
    return thread
