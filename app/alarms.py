"""Per-bed alarm logic (no Qt): the pain alarm, technical alarms, audio pause, and their visual signals.

Time is passed in (seconds, any clock that never goes back), so the logic is exact and testable.

Pain alarm (clinical, medium priority, latching). The condition is "scores ≥ threshold": it starts at the
first score ≥ threshold, ends at the first score below it, and also ends when no score ≥ threshold has arrived
for `GAP_TOLERANCE_S` (frames without a face neither confirm nor end it until then). The alarm is raised once
the condition has been seen for `delay_s` (time between its first and latest score ≥ threshold). States:

- IDLE: no alarm.
- ACTIVE: raised, condition present, not acknowledged. Flashing yellow, audible.
- LATCHED: raised, condition gone, not acknowledged. Still flashing and audible: a nurse must see it.
  If the condition returns the alarm goes back to ACTIVE.
- ACKNOWLEDGED: acknowledged while the condition persists. Steady yellow, silent. Becomes IDLE when the
  condition ends; re-alarms (back to ACTIVE) if it is still present `realarm_after_s` after acknowledgement.

Acknowledging LATCHED ends the alarm (events ACKNOWLEDGED then CLEARED). Technical alarms (no usable face
for `no_face_delay_s`, the model not applicable to the face for `not_applicable_delay_s`, camera lost, model
error, record error, video recording stopped) are low priority, steady cyan, silent, not
latching: they clear themselves when the condition ends (for camera lost and record error the monitor
decides when that is). Audio pause silences the audible signal for `AUDIO_PAUSE_S`; visual
signals continue, and the display shows the audio-paused indication with the time left
(`audio_pause_left`). Every transition returns an `AlarmEvent` for the alarm log and the record.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from engine.labelled import LabelledEnum
from engine.status import FrameStatus


class Priority(IntEnum):
    """IEC 60601-1-8 alarm priorities (NONE: no alarm)."""

    NONE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3

    @property
    def label(self) -> str:
        """The priority in words ("" for NONE)."""
        return "" if self is Priority.NONE else self.name.lower()


# IEC 60601-1-8 visual signals: high = red flashing 1.4–2.8 Hz, medium = yellow flashing 0.4–0.8 Hz,
# low = cyan (or yellow) steady. Flashing uses a 50 % duty cycle (allowed: 20–60 % on).
COLOURS: dict[Priority, str] = {Priority.HIGH: "#e8000b", Priority.MEDIUM: "#ffd200", Priority.LOW: "#00c8e0"}
TEXT_COLOURS: dict[Priority, str] = {
    Priority.HIGH: "#ffffff", Priority.MEDIUM: "#000000", Priority.LOW: "#000000"}
FLASH_HZ: dict[Priority, float] = {Priority.HIGH: 2.0, Priority.MEDIUM: 0.6, Priority.LOW: 0.0}

GAP_TOLERANCE_S = 2.0
"""A pain condition survives frames without a score for this long (a blink, a turned head), and a
not-applicable one frames the model did not refuse (a rare frame of a real person it scores); longer gaps end
them."""
AUDIO_PAUSE_S = 120.0
"""How long an audio pause silences the audible signal."""
REALARM_RANGE_S = (120.0, 180.0)
"""Allowed re-alarm intervals after acknowledgement (2–3 minutes)."""


class AlarmKind(LabelledEnum):
    """What an alarm is about. PAIN is clinical; the others are technical."""

    PAIN = "pain", "pain"
    NO_FACE = "no_face", "no face"
    NOT_APPLICABLE = "not_applicable", "model not applicable"
    CAMERA_LOST = "camera_lost", "camera lost"
    MODEL_ERROR = "model_error", "model error"
    RECORD_ERROR = "record_error", "record error"
    VIDEO_ERROR = "video_error", "video recording stopped"

    @property
    def priority(self) -> Priority:
        """Clinical alarms are medium priority, technical ones low."""
        return Priority.MEDIUM if self is AlarmKind.PAIN else Priority.LOW


_REPORTED = {AlarmKind.CAMERA_LOST: "Camera lost", AlarmKind.MODEL_ERROR: "Model error",
             AlarmKind.RECORD_ERROR: "Record error", AlarmKind.VIDEO_ERROR: "Video recording stopped"}
"""Technical alarms reported by the monitor (`set_technical`), with their default messages."""


class AlarmState(StrEnum):
    """States of one alarm (technical alarms use only IDLE and ACTIVE); see the module docstring."""

    IDLE = "idle"
    ACTIVE = "active"
    LATCHED = "latched"
    ACKNOWLEDGED = "acknowledged"


class Transition(LabelledEnum):
    """What happened in an `AlarmEvent`."""

    RAISED = "raised", "raised"
    LATCHED = "latched", "latched"
    RETURNED = "returned", "returned"
    ACKNOWLEDGED = "acknowledged", "acknowledged"
    REALARMED = "realarmed", "realarmed"
    CLEARED = "cleared", "cleared"
    AUDIO_PAUSED = "audio_paused", "audio paused"
    AUDIO_RESUMED = "audio_resumed", "audio resumed"


@dataclass(frozen=True)
class AlarmConfig:
    """Alarm settings of one bed. Raises ValueError (with a readable message) for values out of range."""

    threshold: float = 3.0
    delay_s: float = 10.0
    no_face_delay_s: float = 30.0
    not_applicable_delay_s: float = 30.0
    realarm_after_s: float = 150.0

    def __post_init__(self) -> None:
        low, high = REALARM_RANGE_S
        checks = [
            (0.0 < self.threshold <= 5.0, f"threshold must be in (0, 5], got {self.threshold}"),
            (0.0 <= self.delay_s <= 300.0, f"alarm delay must be 0–300 s, got {self.delay_s}"),
            (0.0 <= self.no_face_delay_s <= 3600.0,
             f"no-face delay must be 0–3600 s, got {self.no_face_delay_s}"),
            (0.0 <= self.not_applicable_delay_s <= 3600.0,
             f"not-applicable delay must be 0–3600 s, got {self.not_applicable_delay_s}"),
            (low <= self.realarm_after_s <= high,
             f"re-alarm interval must be {low:g}–{high:g} s, got {self.realarm_after_s}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


@dataclass(frozen=True)
class AlarmEvent:
    """One alarm transition; kind and uid are None for audio-pause events (they concern the bed)."""

    t: float
    bed: str
    transition: Transition
    kind: AlarmKind | None
    priority: Priority
    uid: str | None
    message: str


@dataclass(frozen=True)
class Alarm:
    """An alarm that is currently not IDLE."""

    uid: str
    kind: AlarmKind
    state: AlarmState
    raised_at: float
    message: str

    @property
    def priority(self) -> Priority:
        """The priority of this alarm's kind."""
        return self.kind.priority


@dataclass(frozen=True)
class AlarmSignal:
    """What a display shows for a bed: the colour of `priority`, flashing or steady, and a text."""

    priority: Priority = Priority.NONE
    flashing: bool = False
    text: str = ""

    @property
    def colour(self) -> str | None:
        """Hex colour of the priority, None when there is no alarm."""
        return COLOURS.get(self.priority)

    @property
    def text_colour(self) -> str | None:
        """Readable text colour on `colour`."""
        return TEXT_COLOURS.get(self.priority)

    @property
    def flash_hz(self) -> float:
        """Flash frequency in Hz, 0 for a steady signal."""
        return FLASH_HZ[self.priority] if self.flashing and self.priority else 0.0


@dataclass
class _Episode:
    uid: str
    kind: AlarmKind
    state: AlarmState
    raised_at: float
    message: str
    acknowledged_at: float = math.nan


class BedAlarms:
    """The alarms of one bed. Feed it scores with `update`, call `tick` when time passes without frames."""

    def __init__(self, config: AlarmConfig, bed: str = "") -> None:
        self.config = config
        self.bed = bed
        self._now = -math.inf
        self._onset: float | None = None  # first score ≥ threshold of the current condition
        self._last_high = -math.inf  # latest score ≥ threshold
        self._no_face_since: float | None = None
        self._not_applicable_since: float | None = None  # first frame of the not-applicable condition
        self._last_not_applicable = -math.inf
        self._episodes: dict[AlarmKind, _Episode] = {}
        self._audio_paused_until: float | None = None

    # -- inputs ---------------------------------------------------------------------------------------
    def update(self, t: float, score: float, status: FrameStatus | None = None) -> list[AlarmEvent]:
        """Take one analysed frame: a score, or NaN when the frame had none, and its status (by default OK
        for a score, NO_FACE without one). Only scores count for pain; a face the model does not apply to
        counts for the not-applicable alarm, any other gap for the no-face alarm."""
        status = status or (FrameStatus.OK if math.isfinite(score) else FrameStatus.NO_FACE)
        events = self._advance(t)
        if math.isfinite(score):
            if score >= self.config.threshold:
                self._onset = t if self._onset is None else self._onset
                self._last_high = t
            else:
                self._onset = None
        face = math.isfinite(score) or status is FrameStatus.NOT_APPLICABLE  # a usable face in view
        self._no_face_since = None if face else (t if self._no_face_since is None else self._no_face_since)
        lasting = self._no_face_since is not None and t - self._no_face_since >= self.config.no_face_delay_s
        words = "No face" if status is FrameStatus.NO_FACE else "No usable face"
        events += self._set(t, AlarmKind.NO_FACE, lasting, f"{words} for {self.config.no_face_delay_s:g} s")
        if status is FrameStatus.NOT_APPLICABLE:
            if self._not_applicable_since is None:
                self._not_applicable_since = t
            self._last_not_applicable = t
        elif t - self._last_not_applicable > GAP_TOLERANCE_S:
            self._not_applicable_since = None  # no face the model refused for a while, whatever came between
        lasting = (self._not_applicable_since is not None
                   and t - self._not_applicable_since >= self.config.not_applicable_delay_s)
        events += self._set(t, AlarmKind.NOT_APPLICABLE, lasting, "Model not applicable to this patient")
        return events + self._step_pain(t)

    def set_technical(self, t: float, kind: AlarmKind, present: bool, message: str = "") -> list[AlarmEvent]:
        """Report that the camera is lost / the model fails / the record refused a write (present=True) or
        that it works again (False)."""
        if kind not in _REPORTED:
            raise ValueError(f"{kind} is not a reported technical alarm")
        return self._advance(t) + self._set(t, kind, present, message or _REPORTED[kind]) + self._step_pain(t)

    def suspend(self, t: float) -> list[AlarmEvent]:
        """Monitoring paused on purpose (privacy pause): the no-face, not-applicable and camera-lost
        conditions end, their timers and the pain timer restart; a raised pain alarm latches until
        acknowledged as usual."""
        events = self._advance(t)
        self._no_face_since = self._not_applicable_since = None
        self._onset = None
        for kind in (AlarmKind.NO_FACE, AlarmKind.NOT_APPLICABLE, AlarmKind.CAMERA_LOST):
            events += self._set(t, kind, False, "")
        return events + self._step_pain(t)

    def tick(self, t: float) -> list[AlarmEvent]:
        """Let time pass: stale pain conditions end, re-alarm and audio-pause timers run out."""
        return self._advance(t) + self._step_pain(t)

    def acknowledge(self, t: float) -> list[AlarmEvent]:
        """A nurse acknowledges the pain alarm: ACTIVE → ACKNOWLEDGED, LATCHED → IDLE."""
        events = self.tick(t)
        pain = self._episodes.get(AlarmKind.PAIN)
        if pain is None or pain.state is AlarmState.ACKNOWLEDGED:
            return events
        latched = pain.state is AlarmState.LATCHED
        pain.acknowledged_at = t
        events += self._move(t, pain, AlarmState.ACKNOWLEDGED, Transition.ACKNOWLEDGED)
        if latched:
            events += self._move(t, pain, AlarmState.IDLE, Transition.CLEARED)
        return events

    def pause_audio(self, t: float) -> list[AlarmEvent]:
        """Silence the audible signal for `AUDIO_PAUSE_S` (restarts the pause if already paused)."""
        events = self.tick(t)
        self._audio_paused_until = t + AUDIO_PAUSE_S
        return [*events, AlarmEvent(t, self.bed, Transition.AUDIO_PAUSED, None, Priority.NONE, None,
                                    f"Audio paused for {AUDIO_PAUSE_S:g} s")]

    def resume_audio(self, t: float) -> list[AlarmEvent]:
        """End an audio pause early (the nurse's choice); nothing while audio is on."""
        events = self.tick(t)
        if self._audio_paused_until is None:
            return events
        self._audio_paused_until = None
        return [*events, AlarmEvent(t, self.bed, Transition.AUDIO_RESUMED, None, Priority.NONE, None,
                                    "Audio on again by hand")]

    # -- outputs --------------------------------------------------------------------------------------
    def has(self, kind: AlarmKind) -> bool:
        """True while an alarm of `kind` is on (in any state but IDLE)."""
        return kind in self._episodes

    @property
    def alarms(self) -> list[Alarm]:
        """Alarms that are not IDLE, highest priority first, then oldest first."""
        episodes = sorted(self._episodes.values(), key=lambda e: (-e.kind.priority, e.raised_at))
        return [Alarm(e.uid, e.kind, e.state, e.raised_at, e.message) for e in episodes]

    @property
    def audio_paused(self) -> bool:
        """True while an audio pause is running."""
        return self._audio_paused_until is not None

    def audio_pause_left(self, t: float) -> float:
        """Seconds of audio pause left at time t (0 when audio is on), for the audio-paused indication."""
        return 0.0 if self._audio_paused_until is None else max(0.0, self._audio_paused_until - t)

    @property
    def audible(self) -> bool:
        """True when the audible signal should sound: an unacknowledged pain alarm and no audio pause."""
        pain = self._episodes.get(AlarmKind.PAIN)
        unacknowledged = pain is not None and pain.state is not AlarmState.ACKNOWLEDGED
        return unacknowledged and not self.audio_paused

    @property
    def signal(self) -> AlarmSignal:
        """The visual signal for this bed: colour of the highest priority, flashing if it needs attention."""
        alarms = self.alarms
        if not alarms:
            return AlarmSignal()
        top = alarms[0]
        flashing = top.kind is AlarmKind.PAIN and top.state is not AlarmState.ACKNOWLEDGED
        return AlarmSignal(top.priority, flashing, " · ".join(_label(a) for a in alarms))

    # -- internals ------------------------------------------------------------------------------------
    def _advance(self, t: float) -> list[AlarmEvent]:
        if t < self._now:
            raise ValueError(f"alarm time went back from {self._now} to {t}")
        self._now = t
        if self._onset is not None and t - self._last_high > GAP_TOLERANCE_S:
            self._onset = None
        if self._audio_paused_until is not None and t >= self._audio_paused_until:
            self._audio_paused_until = None
            return [AlarmEvent(t, self.bed, Transition.AUDIO_RESUMED, None, Priority.NONE, None, "Audio on")]
        return []

    def _step_pain(self, t: float) -> list[AlarmEvent]:
        config = self.config
        present = self._onset is not None
        pain = self._episodes.get(AlarmKind.PAIN)
        if pain is None:
            if self._onset is not None and self._last_high - self._onset >= config.delay_s:
                message = f"Pain ≥ {config.threshold:g} for {config.delay_s:g} s"
                return self._set(t, AlarmKind.PAIN, True, message)
            return []
        state = pain.state
        move: tuple[AlarmState, Transition] | None = None
        if state is AlarmState.ACTIVE and not present:
            move = (AlarmState.LATCHED, Transition.LATCHED)
        elif state is AlarmState.LATCHED and present:
            move = (AlarmState.ACTIVE, Transition.RETURNED)
        elif state is AlarmState.ACKNOWLEDGED and not present:
            move = (AlarmState.IDLE, Transition.CLEARED)
        elif state is AlarmState.ACKNOWLEDGED and t - pain.acknowledged_at >= config.realarm_after_s:
            move = (AlarmState.ACTIVE, Transition.REALARMED)
        return [] if move is None else self._move(t, pain, *move)

    def _set(self, t: float, kind: AlarmKind, present: bool, message: str) -> list[AlarmEvent]:
        """Raise (present) or clear (not present) an alarm of `kind`; no event when nothing changes."""
        episode = self._episodes.get(kind)
        if present and episode is None:
            episode = _Episode(uuid.uuid4().hex, kind, AlarmState.ACTIVE, t, message)
            self._episodes[kind] = episode
            return [self._event(t, Transition.RAISED, episode)]
        if not present and episode is not None:
            return self._move(t, episode, AlarmState.IDLE, Transition.CLEARED)
        return []

    def _move(self, t: float, episode: _Episode, state: AlarmState, why: Transition) -> list[AlarmEvent]:
        """Put `episode` in `state` (IDLE forgets it) and return the event."""
        if state is AlarmState.IDLE:
            del self._episodes[episode.kind]
        else:
            episode.state = state
        return [self._event(t, why, episode)]

    def _event(self, t: float, why: Transition, episode: _Episode) -> AlarmEvent:
        kind = episode.kind
        return AlarmEvent(t, self.bed, why, kind, kind.priority, episode.uid, episode.message)


def _label(alarm: Alarm) -> str:
    if alarm.state is AlarmState.LATCHED:
        return f"{alarm.message} (latched)"
    if alarm.state is AlarmState.ACKNOWLEDGED:
        return f"{alarm.message} (acknowledged)"
    return alarm.message
