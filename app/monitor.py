"""The live monitor's controller: beds, their capture workers, the inference worker, alarms and the record.

`Monitor` lives in the GUI thread. Every display tick (~33 ms) it drains the inference results, feeds each
bed's samples to its history, its `BedAlarms` and the record, lets time pass for the alarms, and emits
`updated`; the views repaint from the state it keeps. Bed configuration and settings persist in the user's
data directory; every bed run is a record session.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from app.alarm_sound import AlarmTone
from app.alarms import AlarmEvent, AlarmKind, AlarmState, BedAlarms, Transition
from app.beds import BedConfig, beds_path, load_beds, save_beds
from app.handoff import AnalysedFrame, ModelInfo, Sample, wall_clock
from app.record import AnnotationKind
from app.record_writer import RecordWriter
from app.series import ScoreSeries
from app.settings import MonitorSettings, load_settings, save_settings, settings_path
from app.workers import RETRY_S, CaptureWorker, FrameSlots, InferenceWorker, Results, start_worker
from engine.paths import data_dir
from engine.status import FrameStatus

ALARM_LOG_LENGTH = 1000
RATE_WINDOW_S = 5.0
STOP_WAIT_S = 5.0


@dataclass(frozen=True)
class LogEntry:
    """One line of the alarm log."""

    bed_name: str
    event: AlarmEvent


@dataclass
class BedRuntime:
    """Everything the monitor knows about one running bed."""

    config: BedConfig
    alarms: BedAlarms
    session_id: int | None = None  # opened at the first write, so that it names the model
    history: ScoreSeries = field(default_factory=ScoreSeries)
    pain_spans: list[tuple[float, float | None]] = field(default_factory=list)
    annotations: list[tuple[float, str]] = field(default_factory=list)
    latest: AnalysedFrame | None = None
    version: int = 0  # bumped whenever samples or the latest frame change
    session_model: str = ""
    paused: bool = False
    source_ok: bool = False
    source_message: str = "connecting…"
    captured: int = 0
    dropped: int = 0
    capture: CaptureWorker | None = None
    thread: threading.Thread | None = None
    _times: deque[float] = field(default_factory=deque)

    @property
    def bed_id(self) -> str:
        """The bed's stable id."""
        return self.config.bed_id

    @property
    def score(self) -> float:
        """The newest score (NaN when the newest sample has none)."""
        return float(self.history.score[-1]) if len(self.history) else math.nan

    @property
    def status(self) -> str:
        """What the tile says about the bed: paused, source problem, or the newest face status."""
        if self.paused:
            return "privacy pause"
        if not self.source_ok:
            return self.source_message
        if self.latest is None:
            return "starting…"
        return self.latest.sample.status.label

    @property
    def analysed_fps(self) -> float:
        """Frames analysed per second over the last few seconds."""
        times = self._times
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0

    @property
    def pain_alarm_pending(self) -> bool:
        """True when the bed has a pain alarm a nurse has not acknowledged yet."""
        return any(a.kind is AlarmKind.PAIN and a.state is not AlarmState.ACKNOWLEDGED
                   for a in self.alarms.alarms)

    def count(self, t: float) -> None:
        """Note an analysed frame at time t (for `analysed_fps`)."""
        self._times.append(t)
        while self._times and self._times[0] < t - RATE_WINDOW_S:
            self._times.popleft()


class Monitor(QObject):
    """Runs the ward: one capture worker per bed, one inference worker, alarms, record and persistence.

    Signals: `beds_changed()` when beds are added, edited or removed; `updated()` after each display tick;
    `alarm_logged(LogEntry)` for every alarm transition; `model_changed(ModelInfo)` when a model is loaded
    or fails to load.
    """

    beds_changed = Signal()
    updated = Signal()
    alarm_logged = Signal(object)
    model_changed = Signal(object)

    def __init__(self, parent: QObject | None = None, *, beds_file: Path | None = None,
                 record_file: Path | None = None, settings_file: Path | None = None,
                 retry_s: float = RETRY_S, display_interval_ms: int = 33, smoothing_s: float = 0.5) -> None:
        super().__init__(parent)
        self.beds_file = beds_file or beds_path()
        configs = load_beds(self.beds_file)  # a broken file stops here, before any thread starts
        self.settings_file = settings_file or settings_path()
        self.settings = load_settings(self.settings_file)
        self.retry_s = retry_s
        self.smoothing_s = smoothing_s
        self.record = RecordWriter(record_file)
        self.slots = FrameSlots()
        self.results = Results()
        self.model: ModelInfo | None = None
        self.alarm_log: deque[LogEntry] = deque(maxlen=ALARM_LOG_LENGTH)
        self.tone = AlarmTone(self)
        self._beds: dict[str, BedRuntime] = {}
        self._retiring: set[threading.Thread] = set()
        self._inference: tuple[InferenceWorker, threading.Thread] | None = None
        self._pending_settings: MonitorSettings | None = None
        self._closed = False
        self._start_inference(self.settings)
        for config in configs:
            self._start_bed(config)
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(display_interval_ms)
        self.timer.timeout.connect(self.tick)
        self.timer.start()

    # -- beds -----------------------------------------------------------------------------------------
    @property
    def beds(self) -> list[BedRuntime]:
        """The running beds, in ward order."""
        return list(self._beds.values())

    def bed(self, bed_id: str) -> BedRuntime:
        """A running bed by id (KeyError if there is none)."""
        return self._beds[bed_id]

    def add_bed(self, config: BedConfig) -> None:
        """Add a bed, start watching it and save the configuration (BedConfigError if names clash)."""
        save_beds([*self._configs(), config], self.beds_file)
        self._start_bed(config)
        self.beds_changed.emit()

    def update_bed(self, config: BedConfig) -> None:
        """Apply an edited bed (same bed_id): a new source or patient opens a new record session (a new
        patient also a clean curve), a new source or recording choice restarts capture; alarm settings
        apply from the next frame without losing a running alarm."""
        runtime = self._beds[config.bed_id]
        save_beds([config if c.bed_id == config.bed_id else c for c in self._configs()], self.beds_file)
        old = runtime.config
        runtime.config = config
        runtime.alarms.config = config.alarms
        runtime.alarms.bed = config.name
        if config.patient != old.patient:  # a new patient starts with a clean curve
            runtime.history, runtime.pain_spans, runtime.annotations = ScoreSeries(), [], []
            runtime.version += 1
        if config.source != old.source or config.patient != old.patient:
            self._end_session(runtime)
        restart = (config.source, config.record_video) != (old.source, old.record_video)
        if restart and not runtime.paused:
            self._stop_capture(runtime)
            self._start_capture(runtime)
        self.beds_changed.emit()

    def remove_bed(self, bed_id: str) -> None:
        """Stop watching a bed, close its session and save the configuration."""
        runtime = self._beds[bed_id]
        save_beds([c for c in self._configs() if c.bed_id != bed_id], self.beds_file)
        self._stop_capture(runtime)
        self._end_session(runtime)
        del self._beds[bed_id]
        self.beds_changed.emit()

    def set_paused(self, bed_id: str, paused: bool) -> None:
        """Privacy pause: stop (or restart) capture and analysis of a bed; the pause is a gap in the
        record."""
        runtime = self._beds[bed_id]
        if paused == runtime.paused:
            return
        runtime.paused = paused
        if paused:
            self._stop_capture(runtime)
            self._mark_gap(runtime, FrameStatus.PAUSED)
            self._log(runtime, runtime.alarms.suspend(wall_clock()))
        else:
            self._start_capture(runtime)
        runtime.version += 1
        self.updated.emit()

    # -- nurse actions --------------------------------------------------------------------------------
    def acknowledge(self, bed_id: str) -> None:
        """Acknowledge a bed's pain alarm."""
        runtime = self._beds[bed_id]
        self._log(runtime, runtime.alarms.acknowledge(wall_clock()))
        self._update_tone()
        self.updated.emit()

    def pause_audio(self) -> None:
        """Silence the audible alarm of every bed for the audio-pause time (visual signals continue)."""
        now = wall_clock()
        for runtime in self._beds.values():
            self._log(runtime, runtime.alarms.pause_audio(now))
        self._update_tone()
        self.updated.emit()

    def annotate(self, bed_id: str, kind: AnnotationKind, text: str = "") -> float:
        """Put an event marker on a bed's curve and in the record now; returns its time."""
        runtime = self._beds[bed_id]
        kind = AnnotationKind(kind)
        t = wall_clock()
        self.record.add_annotation(self._session(runtime), t, kind, text)  # ValueError for an empty note
        label = f"{kind.label}: {text}" if text else kind.label
        runtime.annotations.append((t, label))
        runtime.version += 1
        self.updated.emit()
        return t

    # -- model ----------------------------------------------------------------------------------------
    def apply_settings(self, settings: MonitorSettings) -> None:
        """Save new settings; a different model, backend or device restarts the inference worker."""
        save_settings(settings, self.settings_file)
        old, self.settings = self.settings, settings
        self._update_tone()
        if old.engine == settings.engine:
            return
        if self._inference is None:
            self._start_inference(settings)
        else:
            self._pending_settings = settings
            self._inference[0].stop()

    # -- the display tick -----------------------------------------------------------------------------
    def tick(self) -> None:
        """Take the new results, run the alarms, write the record and tell the views (the display timer
        calls this every ~33 ms)."""
        if self._closed:  # a timer event queued before close()
            return
        now = wall_clock()
        samples, latest = self.results.drain()
        for bed_id, bed_samples in samples.items():
            runtime = self._beds.get(bed_id)
            if runtime is not None and not runtime.paused:
                self._take(runtime, bed_samples, now)
        for bed_id, frame in latest.items():
            runtime = self._beds.get(bed_id)
            if runtime is not None and not runtime.paused:
                runtime.latest = frame
        for runtime in self._beds.values():
            self._log(runtime, runtime.alarms.tick(now))
            runtime.captured, runtime.dropped = self.slots.counts(runtime.bed_id)
        self._retiring = {thread for thread in self._retiring if thread.is_alive()}
        self._update_tone()
        self.updated.emit()

    def _take(self, runtime: BedRuntime, samples: list[Sample], now: float) -> None:
        newest = float(runtime.history.t[-1]) if len(runtime.history) else -math.inf
        fresh = [s for s in samples if s.t >= newest]  # older ones were captured before a gap marker
        if not fresh:
            return
        for sample in fresh:
            self.record.add_sample(self._session(runtime), sample.t, sample.score, sample.status)
            runtime.count(sample.t)
            failed = sample.status is FrameStatus.MODEL_ERROR
            events = runtime.alarms.set_technical(now, AlarmKind.MODEL_ERROR, failed, sample.message)
            if not failed:
                events += runtime.alarms.update(now, sample.score)
            self._log(runtime, events)
        runtime.history.extend([s.t for s in fresh], [s.score for s in fresh])
        runtime.version += 1

    # -- shutting down --------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop every worker, end the sessions and close the record (waits up to a few seconds). Closing
        twice does nothing."""
        if self._closed:
            return
        self._closed = True
        self.timer.stop()
        self.tone.set_active(False)
        for runtime in self._beds.values():
            self._stop_capture(runtime)
            self._end_session(runtime)
        if self._inference is not None:
            self._inference[0].stop()
        deadline = time.monotonic() + STOP_WAIT_S
        for thread in [*self._retiring, *([self._inference[1]] if self._inference else [])]:
            thread.join(max(0.0, deadline - time.monotonic()))  # a stuck one ends with the process
        self._retiring.clear()
        self._inference = None
        self.record.close()

    # -- internals ------------------------------------------------------------------------------------
    def _configs(self) -> list[BedConfig]:
        return [runtime.config for runtime in self._beds.values()]

    @property
    def model_path(self) -> str:
        """The checkpoint running ("" while none is): sessions name it, so replay and export find its card."""
        return self.model.path if self.model is not None and self.model.card is not None else ""

    def _session(self, runtime: BedRuntime) -> int:
        """The bed's open record session, opened now if it has none."""
        if runtime.session_id is None:
            config = runtime.config
            runtime.session_id = self.record.start_session(
                config.bed_id, config.name, source=config.source.describe(), started_at=wall_clock(),
                patient=config.patient, model=self.model_path)
            runtime.session_model = self.model_path
        return runtime.session_id

    def _end_session(self, runtime: BedRuntime) -> None:
        if runtime.session_id is not None:
            self.record.end_session(runtime.session_id, wall_clock())
            runtime.session_id = None

    def _start_bed(self, config: BedConfig) -> None:
        runtime = BedRuntime(config, BedAlarms(config.alarms, config.name))
        self._beds[config.bed_id] = runtime
        self._start_capture(runtime)

    def _start_capture(self, runtime: BedRuntime) -> None:
        config = runtime.config
        stem = None
        if config.record_video:  # opt-in, off by default (privacy)
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
            stem = data_dir("video") / f"{config.bed_id}_{stamp}"
        worker = CaptureWorker(config.bed_id, config.source, retry_s=self.retry_s, record_stem=stem)
        worker.frame_captured.connect(self.slots.put, Qt.ConnectionType.DirectConnection)
        worker.source_state.connect(self._source_state)
        runtime.source_ok, runtime.source_message = False, "connecting…"
        runtime.capture, runtime.thread = worker, start_worker(worker)

    def _stop_capture(self, runtime: BedRuntime) -> None:
        """Stop a bed's capture without waiting (close() waits for the stopping threads)."""
        worker, thread = runtime.capture, runtime.thread
        if worker is None or thread is None:
            return
        worker.stop()
        worker.source_state.disconnect(self._source_state)
        self._retiring.add(thread)
        runtime.capture = runtime.thread = None
        self.slots.discard(runtime.bed_id)
        if self._inference is not None:
            self._inference[0].forget(runtime.bed_id)

    def _source_state(self, bed_id: str, delivering: bool, message: str) -> None:
        runtime = self._beds.get(bed_id)
        if runtime is None or runtime.paused or self._closed:
            return
        runtime.source_ok, runtime.source_message = delivering, message
        if not delivering:
            self._mark_gap(runtime, FrameStatus.CAMERA_LOST)
        self._log(runtime, runtime.alarms.set_technical(wall_clock(), AlarmKind.CAMERA_LOST, not delivering,
                                                        message))
        runtime.version += 1

    def _mark_gap(self, runtime: BedRuntime, status: FrameStatus) -> None:
        """Write a scoreless sample saying why the following stretch has no frames."""
        t = max(wall_clock(), float(runtime.history.t[-1]) if len(runtime.history) else -math.inf)
        self.record.add_sample(self._session(runtime), t, math.nan, status)
        runtime.history.extend(t, math.nan)
        runtime.version += 1

    def _log(self, runtime: BedRuntime, events: list[AlarmEvent]) -> None:
        for event in events:
            self.record.add_alarm_event(self._session(runtime), event)
            entry = LogEntry(runtime.config.name, event)
            self.alarm_log.append(entry)
            self.alarm_logged.emit(entry)
            if event.kind is AlarmKind.PAIN and event.transition in (Transition.RAISED, Transition.CLEARED):
                self._refresh_spans(runtime, event)

    @staticmethod
    def _refresh_spans(runtime: BedRuntime, event: AlarmEvent) -> None:
        """Open a pain span when a pain alarm is raised, close it when it clears."""
        if event.transition is Transition.RAISED:
            runtime.pain_spans.append((event.t, None))
        elif runtime.pain_spans and runtime.pain_spans[-1][1] is None:
            runtime.pain_spans[-1] = (runtime.pain_spans[-1][0], event.t)
        runtime.version += 1

    def _update_tone(self) -> None:
        self.tone.set_active(self.settings.audible and any(r.alarms.audible for r in self._beds.values()))

    def _start_inference(self, settings: MonitorSettings) -> None:
        worker = InferenceWorker(self.slots, self.results, settings, self.smoothing_s)
        worker.model_loaded.connect(self._model_loaded)
        worker.finished.connect(self._inference_finished)
        self._inference = (worker, start_worker(worker))

    def _inference_finished(self) -> None:
        pending, self._pending_settings = self._pending_settings, None
        self._inference = None
        if pending is not None and not self._closed:
            self._start_inference(pending)

    def _model_loaded(self, info: ModelInfo) -> None:
        if self._closed:
            return
        self.model = info
        for runtime in self._beds.values():
            if runtime.session_id is not None and runtime.session_model != self.model_path:
                self._end_session(runtime)  # a session records one model
        self.model_changed.emit(info)
