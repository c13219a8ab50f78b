"""The live monitor's controller: beds, their capture workers, the inference worker, alarms and the record.

`Monitor` lives in the GUI thread. Every display tick (~33 ms) it drains the inference results, feeds each
bed's samples to its history, its `BedAlarms` and the record, watches the age of each bed's newest frame,
turns writes the record refused into technical alarms, lets time pass for the alarms, and emits `updated`;
the views repaint from the state it keeps. Bed configuration and settings persist in the user's data
directory; every bed run is a record session, part of the bed's patient stay while one is open (app.stays:
admitted, continued across restarts and model changes, discharged).

It starts whatever it finds: damaged files are set aside and said in `notices`, never a refusal that would
leave the ward unmonitored. The data folder is made private at start, and with data retention on, old
sessions and recordings are deleted at start and every hour.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections import deque
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from app.alarm_sound import AlarmTone
from app.alarms import AlarmEvent, AlarmKind, BedAlarms, Transition
from app.bed_runtime import CONNECTING, BedRuntime, LogEntry
from app.bed_states import VIDEO_ENDED, PrivacyPause
from app.beds import BedConfig, beds_path, recover_beds, save_beds
from app.data_folder import delete_files_before, make_private
from app.handoff import ModelInfo, Sample, wall_clock
from app.record import AnnotationKind, RecordError, Stay, marker_label
from app.record_writer import open_record
from app.series import ScoreSeries
from app.settings import MonitorSettings, recover_settings, save_settings, settings_path
from app.stays import StayHistory, open_stays
from app.workers import (
    RETRY_S,
    CaptureWorker,
    FrameSlots,
    InferenceWorker,
    ModelCheck,
    Results,
    start_worker,
)
from engine.paths import DEMO_MODEL, data_dir
from engine.status import FrameStatus

log = logging.getLogger(__name__)

ALARM_LOG_LENGTH = 1000
STOP_WAIT_S = 5.0
STALE_AFTER_S = 2.0
"""A bed whose source has sent no frame for this long is lost: a gap, a camera-lost alarm, no frozen face."""
RECOVERED_AFTER_S = 3.0
"""A camera-lost alarm clears once frames have flowed again for this long (no flapping at each reconnect)."""
RECORD_ALARM_S = 60.0
"""A record-error alarm stays this long after the last write the record refused for the bed."""
SESSION_RETRY_S = 5.0
"""How often a bed whose record session could not be opened tries again."""
RETENTION_INTERVAL_MS = 3_600_000
"""How often data retention deletes what has grown too old (and once at start)."""


class Monitor(QObject):
    """Runs the ward: one capture worker per bed, one inference worker, alarms, record and persistence.

    Signals: `beds_changed()` when beds are added, edited or removed; `updated()` after each display tick;
    `alarm_logged(LogEntry)` for every alarm transition; `model_changed(ModelInfo)` when a model is loaded
    or fails to load; `model_checked(failure)` when a model applied in Settings has been checked (failure:
    None, or why it was refused in one line). At start a model that cannot be loaded is replaced by
    `fallback_model` (the bundled demo model; None: no model runs). `notices` says what start-up found wrong
    (damaged files set aside, permissions it could not fix), one line each, for a banner.
    """

    beds_changed = Signal()
    updated = Signal()
    alarm_logged = Signal(object)
    model_changed = Signal(object)
    model_checked = Signal(object)

    def __init__(self, parent: QObject | None = None, *, beds_file: Path | None = None,
                 record_file: Path | None = None, settings_file: Path | None = None,
                 retry_s: float = RETRY_S, display_interval_ms: int = 33, smoothing_s: float = 0.5,
                 fallback_model: Path | None = DEMO_MODEL) -> None:
        super().__init__(parent)
        self.notices = make_private(data_dir())  # patient data: the folder 0700, its files 0600
        self.beds_file = beds_file or beds_path()
        configs, beds_notice = recover_beds(self.beds_file)
        self.settings_file = settings_file or settings_path()
        self.settings, settings_notice = recover_settings(self.settings_file)
        self.record, record_notice = open_record(record_file)
        self.notices += [notice for notice in (beds_notice, settings_notice, record_notice) if notice]
        self.notices += self._end_interrupted_sessions()
        self.retry_s = retry_s
        self.smoothing_s = smoothing_s
        self.slots = FrameSlots()
        self.results = Results()
        self.model: ModelInfo | None = None
        self.alarm_log: deque[LogEntry] = deque(maxlen=ALARM_LOG_LENGTH)
        self.tone = AlarmTone(self)
        self._beds: dict[str, BedRuntime] = {}
        self._retiring: set[threading.Thread] = set()
        self._inference: tuple[InferenceWorker, threading.Thread] | None = None
        self._pending_settings: MonitorSettings | None = None
        self._check: tuple[ModelCheck, threading.Thread] | None = None
        self._closed = False
        self._start_inference(self.settings, fallback_model)
        stays = open_stays(self.record.path, [config.bed_id for config in configs])
        for config in configs:
            self._start_bed(config, stays.get(config.bed_id))
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(display_interval_ms)
        self.timer.timeout.connect(self.tick)
        self.timer.start()
        self.retention_timer = QTimer(self)
        self.retention_timer.setInterval(RETENTION_INTERVAL_MS)
        self.retention_timer.timeout.connect(self.apply_retention)
        self.retention_timer.start()
        self.apply_retention()

    def _end_interrupted_sessions(self) -> list[str]:
        """Sessions the last run left open (it crashed, was killed, lost power) end at their last sample;
        a notice says so."""
        try:
            beds = self.record.end_interrupted_sessions()
        except RecordError as exc:  # start-up never refuses: the record's own alarm will say it fails
            log.warning("the sessions left open cannot be ended: %s", exc)
            return []
        return [f"painmon did not close properly last time: the sessions of {', '.join(sorted(set(beds)))} "
                "were ended at their last sample."] if beds else []

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
        """Apply an edited bed (same bed_id; its patient changes only by `admit` and `discharge`): a new
        source opens a new record session, a new source or recording choice restarts capture; alarm settings
        apply from the next frame without losing a running alarm."""
        runtime = self._beds[config.bed_id]
        old = runtime.config
        config = dataclasses.replace(config, patient=old.patient)
        save_beds([config if c.bed_id == config.bed_id else c for c in self._configs()], self.beds_file)
        runtime.config = config
        runtime.alarms.config = config.alarms
        runtime.alarms.bed = config.name
        if config.source != old.source:
            self._end_session(runtime)
        restart = (config.source, config.record_video, config.loop_video) != (
            old.source, old.record_video, old.loop_video)
        if restart and not runtime.paused:
            self._stop_capture(runtime)
            self._start_capture(runtime)
        self.beds_changed.emit()

    def remove_bed(self, bed_id: str) -> None:
        """Stop watching a bed, close its session, discharge its stay and save the configuration."""
        runtime = self._beds[bed_id]
        save_beds([c for c in self._configs() if c.bed_id != bed_id], self.beds_file)
        self._stop_capture(runtime)
        self._end_session(runtime)
        self._close_stay(runtime)
        del self._beds[bed_id]
        self.beds_changed.emit()

    def set_paused(self, bed_id: str, paused: bool, for_s: float | None = None) -> None:
        """Privacy pause: stop capture and analysis of a bed for `for_s` (by default the setting's minutes),
        after which monitoring resumes on its own, or resume it early; the pause is a gap in the record."""
        runtime = self._beds[bed_id]
        if paused == runtime.paused:
            return
        length = self.settings.privacy_pause_min * 60.0 if for_s is None else for_s
        runtime.privacy = PrivacyPause(wall_clock() + length) if paused else None
        if paused:
            self._stop_capture(runtime)
            self._mark_gap(runtime, FrameStatus.PAUSED)
            self._log(runtime, runtime.alarms.suspend(wall_clock()))
        else:
            self._start_capture(runtime)
        runtime.version += 1
        self.updated.emit()

    # -- stays --------------------------------------------------------------------------------------------
    def admit(self, bed_id: str, patient: str = "") -> None:
        """Admit a patient (the label may be empty) to a bed, discharging any open stay: a new stay, a clean
        curve, and every session of the bed from now on part of it. RecordError when the record cannot open
        the stay (nothing changes then)."""
        runtime = self._beds[bed_id]
        stay = self._open_stay(runtime.config, patient)
        self._close_stay(runtime)
        runtime.stay = stay
        self._new_patient(runtime, patient)

    def discharge(self, bed_id: str) -> None:
        """End a bed's stay: the patient label is cleared, the curve starts afresh, and the bed's sessions
        belong to no stay until the next admission."""
        runtime = self._beds[bed_id]
        self._close_stay(runtime)
        self._new_patient(runtime, "")

    def _open_stay(self, config: BedConfig, patient: str) -> Stay:
        now = wall_clock()
        stay_id = self.record.admit(config.bed_id, config.name, patient=patient, admitted_at=now)
        return Stay(stay_id, config.bed_id, config.name, patient, now, None)

    def _close_stay(self, runtime: BedRuntime) -> None:
        if runtime.stay is not None:
            self.record.discharge(runtime.stay.id, wall_clock())
            runtime.stay = None

    def _new_patient(self, runtime: BedRuntime, patient: str) -> None:
        """Another patient (or none) in the bed: the label saved, a clean curve, a new record session."""
        runtime.config = dataclasses.replace(runtime.config, patient=patient)
        save_beds(self._configs(), self.beds_file)
        runtime.history, runtime.pain_spans, runtime.annotations = ScoreSeries(), [], []
        runtime.version += 1
        self._end_session(runtime)
        self.beds_changed.emit()

    # -- nurse actions --------------------------------------------------------------------------------
    def acknowledge(self, bed_id: str) -> None:
        """Acknowledge a bed's pain alarm."""
        runtime = self._beds[bed_id]
        self._log(runtime, runtime.alarms.acknowledge(wall_clock()))
        self._update_tone()
        self.updated.emit()

    def audio_pause_left(self) -> float:
        """Seconds of audio pause left (0 when audio is on), for the audio-paused indication."""
        now = wall_clock()
        return max((runtime.alarms.audio_pause_left(now) for runtime in self._beds.values()), default=0.0)

    def pause_audio(self) -> None:
        """Silence the audible alarm of every bed for the audio-pause time (visual signals continue); while
        audio is paused, end the pause instead (IEC 60601-1-8: the operator may)."""
        now = wall_clock()
        resume = any(runtime.alarms.audio_paused for runtime in self._beds.values())
        for runtime in self._beds.values():
            alarms = runtime.alarms
            self._log(runtime, alarms.resume_audio(now) if resume else alarms.pause_audio(now))
        self._update_tone()
        self.updated.emit()

    def annotate(self, bed_id: str, kind: AnnotationKind, text: str = "") -> float:
        """Put an event marker on a bed's curve and in the record now; returns its time (ValueError for an
        empty note). When the bed has no record session now, the marker says it was not recorded."""
        runtime = self._beds[bed_id]
        kind = AnnotationKind(kind)
        t = wall_clock()
        label = marker_label(kind, text)
        if (session := self._session(runtime)) is not None:
            self.record.add_annotation(session, t, kind, text)
        else:
            label += " (not recorded)"
        runtime.annotations.append((t, label))
        runtime.version += 1
        self.updated.emit()
        return t

    # -- model ----------------------------------------------------------------------------------------
    def apply_settings(self, settings: MonitorSettings) -> None:
        """Save new settings. A different model, backend or device is checked first, in the background
        (`ModelCheck`: loaded and self-tested on the simulated patient); the running model keeps scoring
        meanwhile and is replaced only if the new one passes, else the settings keep it and `model_checked`
        says why. The other settings apply at once."""
        self._use(settings.with_engine(self.settings.engine))
        self._check = None  # a check still running for an earlier Apply no longer counts
        if settings.engine != self.settings.engine:
            check = ModelCheck(settings)
            check.done.connect(self._model_checked)
            self._check = (check, start_worker(check))

    def _model_checked(self, settings: MonitorSettings, failure: str | None) -> None:
        if self._closed or self._check is None or self._check[0].settings is not settings:
            return  # closed, or replaced by a later Apply
        self._check = None
        if failure is None:
            self._use(self.settings.with_engine(settings.engine))
        else:
            log.warning("model %s refused: %s", settings.model_path, failure)
        self.model_checked.emit(failure)

    def _use(self, settings: MonitorSettings) -> None:
        """Save settings and apply them; a different model, backend or device restarts the inference
        worker."""
        save_settings(settings, self.settings_file)
        old, self.settings = self.settings, settings
        self._update_tone()
        if old.retention_days != settings.retention_days:
            self.apply_retention()
        if old.engine == settings.engine:
            return
        if self._inference is None:
            self._start_inference(settings)
        else:
            self._pending_settings = settings
            self._inference[0].stop()

    def apply_retention(self) -> None:
        """Data retention: delete the record's sessions and the recordings older than the setting's days
        (nothing when it is 0, the default); open sessions are kept."""
        if not self.settings.retention_days:
            return
        cutoff = time.time() - self.settings.retention_days * 86_400
        open_sessions = {r.session_id for r in self._beds.values() if r.session_id is not None}
        self.record.delete_sessions_before(cutoff, keep=open_sessions)
        deleted = delete_files_before(data_dir("video"), cutoff)
        log.info("data retention: sessions before %s and %d recording file(s) deleted", time.ctime(cutoff),
                 len(deleted))

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
        self._watch_storage(now)
        for runtime in self._beds.values():
            if runtime.privacy is not None and runtime.privacy.over(now):
                self.set_paused(runtime.bed_id, False)
            if runtime.capture is not None:
                self._watch_frames(runtime, now)
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
        session = self._session(runtime)
        for sample in fresh:
            if session is not None:
                self.record.add_sample(session, sample.t, sample.score, sample.status, quality=sample.quality,
                                       detail=sample.message)
            runtime.count(sample.t)
            failed = sample.status is FrameStatus.MODEL_ERROR
            events = runtime.alarms.set_technical(now, AlarmKind.MODEL_ERROR, failed, sample.message)
            if not failed:
                events += runtime.alarms.update(now, sample.score, sample.status)
            self._log(runtime, events)
        runtime.history.extend([s.t for s in fresh], [s.score for s in fresh])
        runtime.version += 1

    def _watch_storage(self, now: float) -> None:
        """Technical alarms for what is not being kept, while monitoring goes on: a write the record refused
        (on its bed, until `RECORD_ALARM_S` after the last one), the record failing to commit at all (a full
        disk, a lock: on every bed, until it commits again), and a bed's video recording stopped (a full
        disk: until it resumes)."""
        for failure in self.record.take_failures():
            runtime = self._beds.get(failure.bed_id or "")
            if runtime is None:
                log.warning("record: %s", failure.message)
                continue
            runtime.record_refused = (now, f"Record: {failure.message}")
        failing = self.record.error
        for runtime in self._beds.values():
            if runtime.record_refused is not None and now - runtime.record_refused[0] >= RECORD_ALARM_S:
                runtime.record_refused = None
            record = failing or (runtime.record_refused[1] if runtime.record_refused else None)
            recorder = runtime.capture.recorder if runtime.capture is not None else None
            video = recorder.problem if recorder is not None else None
            for kind, why in ((AlarmKind.RECORD_ERROR, record), (AlarmKind.VIDEO_ERROR, video)):
                self._log(runtime, runtime.alarms.set_technical(now, kind, why is not None, why or ""))

    def _watch_frames(self, runtime: BedRuntime, now: float) -> None:
        """The frame-age watchdog: a source that sends no frame for `STALE_AFTER_S` (a stalled stream, a
        source that never starts) is lost at once; its camera-lost alarm clears only once frames have
        flowed again for `RECOVERED_AFTER_S`."""
        newest = self.slots.newest(runtime.bed_id)
        if newest > max(runtime.frames_seen, runtime.watched_from):
            runtime.flowing_since = newest if runtime.flowing_since is None else runtime.flowing_since
            runtime.frames_seen = newest
            runtime.source_ok, runtime.source_message = True, ""
        lost = runtime.alarms.has(AlarmKind.CAMERA_LOST)
        if now - max(runtime.frames_seen, runtime.watched_from) > STALE_AFTER_S:
            if runtime.source_ok or not lost:
                self._lose(runtime, f"No frames for {STALE_AFTER_S:g} s", now)
        elif lost and runtime.flowing_since is not None and now - runtime.flowing_since >= RECOVERED_AFTER_S:
            self._log(runtime, runtime.alarms.set_technical(now, AlarmKind.CAMERA_LOST, False))
            runtime.version += 1

    # -- shutting down --------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop every worker, end the sessions and close the record (waits up to a few seconds). Closing
        twice does nothing."""
        if self._closed:
            return
        self._closed = True
        self.timer.stop()
        self.retention_timer.stop()
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

    def _session(self, runtime: BedRuntime) -> int | None:
        """The bed's open record session, opened now if it has none; None (tried again after
        `SESSION_RETRY_S`) when it cannot be opened: the bed is monitored all the same."""
        if runtime.session_id is None and wall_clock() >= runtime.session_retry_at:
            config = runtime.config
            try:
                runtime.session_id = self.record.start_session(
                    config.bed_id, config.name, source=config.source.describe(), started_at=wall_clock(),
                    patient=config.patient, model=self.model_path,
                    stay_id=runtime.stay.id if runtime.stay is not None else None,
                    alarm_limit=config.alarms.threshold)
            except RecordError as exc:  # a refused session is also reported by the writer: an alarm
                log.warning("no record session for %s: %s", config.name, exc)
                runtime.session_retry_at = wall_clock() + SESSION_RETRY_S
                return None
            runtime.session_model = self.model_path
        return runtime.session_id

    def _end_session(self, runtime: BedRuntime) -> None:
        if runtime.session_id is not None:
            self.record.end_session(runtime.session_id, wall_clock())
            runtime.session_id = None

    def _start_bed(self, config: BedConfig, stay: tuple[Stay, StayHistory] | None = None) -> None:
        """Start watching a bed: it continues its open stay (the curve filled with the stay so far), or a
        bed with a patient label and no stay (a new bed's, or one from before stays) admits that patient."""
        runtime = BedRuntime(config, BedAlarms(config.alarms, config.name))
        self._beds[config.bed_id] = runtime
        if stay is not None:
            runtime.stay, history = stay
            runtime.history, runtime.annotations = history.series, history.markers
            runtime.pain_spans = history.pain_spans
        elif config.patient:
            try:
                runtime.stay = self._open_stay(config, config.patient)
            except RecordError as exc:  # watched all the same; the record says why it failed
                log.warning("%s cannot be admitted to %s: %s", config.patient, config.name, exc)
        self._start_capture(runtime)

    def _start_capture(self, runtime: BedRuntime) -> None:
        config = runtime.config
        record_to = data_dir("video") if config.record_video else None  # opt-in, off by default (privacy)
        worker = CaptureWorker(config.bed_id, config.source, retry_s=self.retry_s, record_to=record_to,
                               loop=config.loop_video)
        worker.frame_captured.connect(self.slots.put, Qt.ConnectionType.DirectConnection)
        worker.source_state.connect(self._source_state)
        worker.source_ended.connect(self._source_ended)
        runtime.source_ok, runtime.source_message = False, CONNECTING
        runtime.watched_from, runtime.flowing_since = wall_clock(), None
        runtime.capture, runtime.thread = worker, start_worker(worker)

    def _stop_capture(self, runtime: BedRuntime) -> None:
        """Stop a bed's capture without waiting (close() waits for the stopping threads)."""
        worker, thread = runtime.capture, runtime.thread
        if worker is None or thread is None:
            return
        worker.stop()
        worker.source_state.disconnect(self._source_state)
        worker.source_ended.disconnect(self._source_ended)
        self._retiring.add(thread)
        runtime.capture = runtime.thread = None
        self.slots.discard(runtime.bed_id)
        if self._inference is not None:
            self._inference[0].forget(runtime.bed_id)

    def _source_state(self, bed_id: str, delivering: bool, message: str) -> None:
        """A capture worker reports its source lost (delivering again is seen by the watchdog)."""
        runtime = self._beds.get(bed_id)
        if runtime is None or runtime.paused or self._closed or delivering:
            return
        runtime.frames_seen = max(runtime.frames_seen, self.slots.newest(bed_id))  # older frames are no flow
        self._lose(runtime, message, wall_clock())

    def _source_ended(self, bed_id: str) -> None:
        """A bed's video file played to its end: an informational state, not a lost camera. Capture stops
        (so the watchdog does not call it lost), the curve and record get a gap, no frozen face stays, and
        the source's technical conditions end as in a privacy pause."""
        runtime = self._beds.get(bed_id)
        if runtime is None or runtime.paused or self._closed:
            return
        self._stop_capture(runtime)
        self._mark_gap(runtime, FrameStatus.VIDEO_ENDED)
        runtime.source_ok, runtime.source_message, runtime.latest = False, VIDEO_ENDED, None
        self._log(runtime, runtime.alarms.suspend(wall_clock()))

    def _lose(self, runtime: BedRuntime, message: str, now: float) -> None:
        """The bed's source is lost: a gap in the curve and the record (once), no frozen face or score, and
        the camera-lost alarm (kept until frames flow again for `RECOVERED_AFTER_S`)."""
        if runtime.source_ok or not runtime.alarms.has(AlarmKind.CAMERA_LOST):
            self._mark_gap(runtime, FrameStatus.CAMERA_LOST)
        runtime.source_ok, runtime.source_message = False, message
        runtime.flowing_since = None
        runtime.latest = None
        self._log(runtime, runtime.alarms.set_technical(now, AlarmKind.CAMERA_LOST, True, message))
        runtime.version += 1

    def _mark_gap(self, runtime: BedRuntime, status: FrameStatus) -> None:
        """Write a scoreless sample saying why the following stretch has no frames."""
        t = max(wall_clock(), float(runtime.history.t[-1]) if len(runtime.history) else -math.inf)
        if (session := self._session(runtime)) is not None:
            self.record.add_sample(session, t, math.nan, status)
        runtime.history.extend(t, math.nan)
        runtime.version += 1

    def _log(self, runtime: BedRuntime, events: list[AlarmEvent]) -> None:
        for event in events:
            if (session := self._session(runtime)) is not None:
                self.record.add_alarm_event(session, event)
            entry = LogEntry(runtime.bed_id, runtime.config.name, event)
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

    def _start_inference(self, settings: MonitorSettings, fallback: Path | None = None) -> None:
        worker = InferenceWorker(self.slots, self.results, settings, self.smoothing_s, fallback)
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
