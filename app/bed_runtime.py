"""What the monitor keeps about each running bed (`BedRuntime`) and each line of its alarm log (`LogEntry`),
and what a tile or the bed view says from it: status, why there is no score, the face's quality, rate."""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field

from app.alarms import AlarmEvent, AlarmKind, AlarmState, BedAlarms
from app.bed_states import VIDEO_ENDED, PrivacyPause
from app.beds import BedConfig
from app.handoff import AnalysedFrame, wall_clock
from app.record import Stay
from app.series import ScoreSeries
from app.workers import CaptureWorker
from engine.status import FrameStatus

CONNECTING = "connecting…"
"""What a bed says while its source opens."""
RATE_WINDOW_S = 5.0


@dataclass(frozen=True)
class LogEntry:
    """One line of the alarm log."""

    bed_id: str
    bed_name: str
    event: AlarmEvent


@dataclass
class BedRuntime:
    """Everything the monitor knows about one running bed."""

    config: BedConfig
    alarms: BedAlarms
    session_id: int | None = None  # opened at the first write, so that it names the model
    stay: Stay | None = None  # the patient's open stay: every session opened for the bed joins it
    history: ScoreSeries = field(default_factory=ScoreSeries)
    pain_spans: list[tuple[float, float | None]] = field(default_factory=list)
    annotations: list[tuple[float, str]] = field(default_factory=list)
    latest: AnalysedFrame | None = None
    version: int = 0  # bumped whenever samples or the latest frame change
    session_model: str = ""
    session_retry_at: float = -math.inf
    privacy: PrivacyPause | None = None  # a privacy pause running
    source_ok: bool = False
    source_message: str = CONNECTING
    captured: int = 0
    dropped: int = 0
    capture: CaptureWorker | None = None
    thread: threading.Thread | None = None
    watched_from: float = -math.inf  # the capture (re)started then: a first frame is due STALE_AFTER_S later
    frames_seen: float = -math.inf  # capture time of the newest frame the watchdog has seen
    flowing_since: float | None = None  # frames have come without a stall since then
    record_refused: tuple[float, str] | None = None  # when and why the record last refused this bed a write
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
    def paused(self) -> bool:
        """True during a privacy pause."""
        return self.privacy is not None

    @property
    def status(self) -> str:
        """What the tile says about the bed: privacy pause with its time left, source problem (or video
        ended), or the newest face status."""
        if self.privacy is not None:
            return self.privacy.text(wall_clock())
        if not self.source_ok:
            return self.source_message
        if self.latest is None:
            return "starting…"
        return self.latest.sample.status.label

    @property
    def reason(self) -> str:
        """Why the bed shows no score now, in words ("" while it shows one): privacy pause, camera lost,
        video ended, starting, or the newest frame's status (with the reason of a low quality)."""
        if self.paused:
            return "privacy pause"
        if not self.source_ok:
            return self.source_message if self.source_message in (CONNECTING, VIDEO_ENDED) else "camera lost"
        if self.latest is None:
            return "starting…"
        sample = self.latest.sample
        return "" if sample.status is FrameStatus.OK else sample.status.words(sample.message)

    @property
    def quality(self) -> float:
        """The quality of the newest frame's face (0–1), NaN without one."""
        live = self.latest is not None and self.source_ok and not self.paused
        return self.latest.sample.quality if live and self.latest is not None else math.nan

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
