"""Alarm logic of one bed, driven with exact timestamps."""

from __future__ import annotations

import math

import pytest

from app.alarms import (
    AUDIO_PAUSE_S,
    FLASH_HZ,
    GAP_TOLERANCE_S,
    AlarmConfig,
    AlarmEvent,
    AlarmKind,
    AlarmState,
    BedAlarms,
    Priority,
    Transition,
)
from engine.status import FrameStatus

NAN = math.nan
CONFIG = AlarmConfig(threshold=3.0, delay_s=10.0, no_face_delay_s=5.0, realarm_after_s=150.0)


def feed(alarms: BedAlarms, start: float, stop: float, score: float, step: float = 0.5) -> list[AlarmEvent]:
    """Send one score every `step` seconds for start <= t < stop; return all events."""
    events: list[AlarmEvent] = []
    t = start
    while t < stop - 1e-9:
        events += alarms.update(t, score)
        t += step
    return events


def transitions(events: list[AlarmEvent]) -> list[tuple[float, Transition, AlarmKind | None]]:
    return [(e.t, e.transition, e.kind) for e in events]


def pain_state(alarms: BedAlarms) -> AlarmState:
    found = [a.state for a in alarms.alarms if a.kind is AlarmKind.PAIN]
    return found[0] if found else AlarmState.IDLE


def test_pain_raises_only_after_the_delay_and_latches_until_acknowledged() -> None:
    alarms = BedAlarms(CONFIG, bed="bed-1")
    assert feed(alarms, 0.0, 9.5, 3.5) == []  # 0 … 9.0 s above threshold: not yet 10 s
    events = alarms.update(10.0, 3.5)
    assert transitions(events) == [(10.0, Transition.RAISED, AlarmKind.PAIN)]
    assert events[0].priority is Priority.MEDIUM and events[0].bed == "bed-1"
    assert alarms.signal.priority is Priority.MEDIUM and alarms.signal.flashing and alarms.audible

    # Pain falls below threshold: the alarm stays (latched) and keeps flashing and sounding.
    assert transitions(alarms.update(11.0, 1.0)) == [(11.0, Transition.LATCHED, AlarmKind.PAIN)]
    assert feed(alarms, 11.5, 600.0, 1.0, step=5.0) == []
    assert pain_state(alarms) is AlarmState.LATCHED
    assert alarms.signal.flashing and alarms.audible and "latched" in alarms.signal.text

    # Acknowledging a latched alarm ends it; one uid ties the whole episode together.
    events = alarms.acknowledge(601.0)
    assert transitions(events) == [(601.0, Transition.ACKNOWLEDGED, AlarmKind.PAIN),
                                   (601.0, Transition.CLEARED, AlarmKind.PAIN)]
    assert len({e.uid for e in events}) == 1
    assert alarms.alarms == [] and alarms.signal.priority is Priority.NONE and not alarms.audible


def test_a_dip_below_threshold_restarts_the_delay() -> None:
    alarms = BedAlarms(CONFIG)
    feed(alarms, 0.0, 8.0, 4.0)
    alarms.update(8.0, 2.0)
    assert feed(alarms, 8.5, 18.0, 4.0) == []  # 8.5 … 17.5: only 9 s since the dip
    assert transitions(alarms.update(18.5, 4.0)) == [(18.5, Transition.RAISED, AlarmKind.PAIN)]


def test_short_face_gaps_are_bridged_long_ones_end_the_condition() -> None:
    alarms = BedAlarms(CONFIG)
    feed(alarms, 0.0, 6.0, 4.0)
    feed(alarms, 6.0, 5.5 + GAP_TOLERANCE_S, NAN)  # a short gap: the condition survives
    events = feed(alarms, 5.5 + GAP_TOLERANCE_S, 10.5, 4.0)
    assert transitions(events) == [(10.0, Transition.RAISED, AlarmKind.PAIN)]

    fresh = BedAlarms(CONFIG)
    feed(fresh, 0.0, 6.0, 4.0)
    feed(fresh, 6.0, 9.0, NAN)  # longer than the tolerance: the condition ends
    assert feed(fresh, 9.0, 18.5, 4.0) == []
    assert transitions(fresh.update(19.0, 4.0)) == [(19.0, Transition.RAISED, AlarmKind.PAIN)]


def test_acknowledged_alarm_stays_quiet_while_pain_persists_then_realarms() -> None:
    alarms = BedAlarms(CONFIG)
    feed(alarms, 0.0, 10.5, 4.0)
    assert transitions(alarms.acknowledge(11.0)) == [(11.0, Transition.ACKNOWLEDGED, AlarmKind.PAIN)]
    assert pain_state(alarms) is AlarmState.ACKNOWLEDGED
    signal = alarms.signal
    assert signal.priority is Priority.MEDIUM and not signal.flashing and signal.flash_hz == 0.0
    assert not alarms.audible
    assert alarms.acknowledge(11.0) == []  # acknowledging again changes nothing

    assert feed(alarms, 11.0, 161.0, 4.0) == []  # still in pain, but within the re-alarm interval
    events = alarms.update(161.0, 4.0)  # 150 s after acknowledgement
    assert transitions(events) == [(161.0, Transition.REALARMED, AlarmKind.PAIN)]
    assert alarms.signal.flashing and alarms.audible


def test_acknowledged_alarm_clears_when_pain_ends() -> None:
    alarms = BedAlarms(CONFIG)
    feed(alarms, 0.0, 10.5, 4.0)
    alarms.acknowledge(11.0)
    assert transitions(alarms.update(20.0, 1.0)) == [(20.0, Transition.CLEARED, AlarmKind.PAIN)]
    assert alarms.alarms == []


def test_latched_alarm_returns_to_active_when_pain_comes_back() -> None:
    alarms = BedAlarms(CONFIG)
    feed(alarms, 0.0, 10.5, 4.0)
    alarms.update(11.0, 0.5)
    assert transitions(alarms.update(30.0, 4.5)) == [(30.0, Transition.RETURNED, AlarmKind.PAIN)]
    # Acknowledged while present: it stays, acknowledged.
    alarms.acknowledge(31.0)
    assert pain_state(alarms) is AlarmState.ACKNOWLEDGED


def test_pain_condition_goes_stale_when_frames_stop() -> None:
    alarms = BedAlarms(CONFIG)
    feed(alarms, 0.0, 10.5, 4.0)
    assert alarms.tick(10.0 + GAP_TOLERANCE_S) == []
    assert transitions(alarms.tick(10.1 + GAP_TOLERANCE_S)) == [
        (10.1 + GAP_TOLERANCE_S, Transition.LATCHED, AlarmKind.PAIN)]


def test_no_face_is_a_low_priority_technical_alarm_that_clears_itself() -> None:
    alarms = BedAlarms(CONFIG)
    feed(alarms, 0.0, 2.0, 1.0)
    assert feed(alarms, 2.0, 7.0, NAN) == []  # 2.0 … 6.5: under 5 s without a face
    events = alarms.update(7.0, NAN)
    assert transitions(events) == [(7.0, Transition.RAISED, AlarmKind.NO_FACE)]
    assert events[0].priority is Priority.LOW
    signal = alarms.signal
    assert signal.priority is Priority.LOW and not signal.flashing and signal.text == "No face for 5 s"
    assert not alarms.audible  # technical alarms are silent
    assert alarms.acknowledge(7.5) == []  # nothing to acknowledge; it is not latching
    assert transitions(alarms.update(8.0, 1.0)) == [(8.0, Transition.CLEARED, AlarmKind.NO_FACE)]
    assert alarms.signal.priority is Priority.NONE


def test_a_face_the_model_does_not_apply_to_raises_its_own_alarm_and_never_pain() -> None:
    alarms = BedAlarms(CONFIG)
    assert CONFIG.not_applicable_delay_s == 30.0  # the default
    events = []
    for step in range(61):  # 0 … 30 s of faces outside the model's data
        events += alarms.update(step * 0.5, NAN, FrameStatus.NOT_APPLICABLE)
    assert transitions(events) == [(30.0, Transition.RAISED, AlarmKind.NOT_APPLICABLE)]
    assert events[0].priority is Priority.LOW and not alarms.audible
    assert alarms.signal.text == "Model not applicable to this patient"
    assert [a.kind for a in alarms.alarms] == [AlarmKind.NOT_APPLICABLE]  # a face in view: no no-face alarm
    scored = [e for step in range(7) for e in alarms.update(30.5 + step * 0.5, 4.0)]  # the model applies
    assert transitions(scored) == [(32.5, Transition.CLEARED, AlarmKind.NOT_APPLICABLE)]  # after 2 s of it


def test_not_applicable_delay_counts_from_the_first_refused_face_after_scored_ones() -> None:
    alarms = BedAlarms(AlarmConfig(threshold=3.0, delay_s=10.0, not_applicable_delay_s=2.0))
    assert alarms.update(0.0, NAN, FrameStatus.NOT_APPLICABLE) == []
    for step in range(6):  # 2.5 s of scored faces: the model applies, the count starts again
        alarms.update(0.5 + step * 0.5, 1.0)
    assert alarms.update(3.0, NAN, FrameStatus.NOT_APPLICABLE) == []
    assert alarms.update(4.5, NAN, FrameStatus.NOT_APPLICABLE) == []
    assert transitions(alarms.update(5.0, NAN, FrameStatus.NOT_APPLICABLE)) == [
        (5.0, Transition.RAISED, AlarmKind.NOT_APPLICABLE)]


def test_a_real_person_the_model_scores_now_and_then_keeps_the_not_applicable_alarm() -> None:
    """The demo model on a real face: hundreds of refused faces with one scored frame every 2.4 s (found by
    a nurse's try: the alarm was never raised)."""
    alarms = BedAlarms(AlarmConfig(threshold=3.0, not_applicable_delay_s=30.0))
    events = []
    for step in range(1200):  # 40 s at 30 fps
        scored = step % 72 == 71
        status = None if scored else FrameStatus.NOT_APPLICABLE
        events += alarms.update(step / 30, 1.2 if scored else NAN, status)
    assert transitions(events) == [(30.0, Transition.RAISED, AlarmKind.NOT_APPLICABLE)]


def test_a_refused_face_with_unclear_frames_between_keeps_one_not_applicable_alarm() -> None:
    """A real person in front of the demo model: refused faces with blinks and turned heads (low quality, no
    face) between them used to clear and raise the alarm again and again."""
    alarms = BedAlarms(AlarmConfig(threshold=3.0, not_applicable_delay_s=2.0))
    events = []
    for step in range(40):  # 20 s: every fourth frame unclear, and a second without a face
        t = step * 0.5
        status = FrameStatus.LOW_QUALITY if step % 4 == 3 else FrameStatus.NOT_APPLICABLE
        events += alarms.update(t, NAN, FrameStatus.NO_FACE if 20 <= step < 22 else status)
    assert transitions(events) == [(2.0, Transition.RAISED, AlarmKind.NOT_APPLICABLE)]
    events = [e for step in range(40, 48) for e in alarms.update(step * 0.5, NAN, FrameStatus.LOW_QUALITY)]
    assert transitions(events) == [(21.5, Transition.CLEARED, AlarmKind.NOT_APPLICABLE)]  # over 2 s unclear


def test_low_quality_faces_are_no_usable_face_and_never_pain() -> None:
    alarms = BedAlarms(CONFIG)
    feed(alarms, 0.0, 9.0, 4.0)  # pain building up, 9 of the 10 s delay
    events = []
    for step in range(12):  # then 5.5 s of blurred faces: no score, the pain condition does not grow
        events += alarms.update(9.0 + step * 0.5, NAN, FrameStatus.LOW_QUALITY)
    assert transitions(events) == [(14.0, Transition.RAISED, AlarmKind.NO_FACE)]
    assert alarms.signal.text == "No usable face for 5 s"
    assert pain_state(alarms) is AlarmState.IDLE


def test_privacy_pause_ends_technical_conditions_and_restarts_the_timers() -> None:
    alarms = BedAlarms(CONFIG)
    feed(alarms, 0.0, 7.5, NAN)  # no face for over 5 s: raised
    alarms.set_technical(7.5, AlarmKind.CAMERA_LOST, True)
    events = alarms.suspend(8.0)
    assert {(e.transition, e.kind) for e in events} == {(Transition.CLEARED, AlarmKind.NO_FACE),
                                                       (Transition.CLEARED, AlarmKind.CAMERA_LOST)}
    assert alarms.signal.priority is Priority.NONE
    feed(alarms, 20.0, 26.0, 4.0)  # pain building up, 6 s of the 10 s delay
    alarms.suspend(26.0)
    # after the pause the pain delay counts from zero again: 10 s of pain from t=100
    assert transitions(feed(alarms, 100.0, 110.5, 4.0)) == [(110.0, Transition.RAISED, AlarmKind.PAIN)]


def test_no_frames_at_all_is_not_a_no_face_alarm() -> None:
    alarms = BedAlarms(CONFIG)
    alarms.update(0.0, NAN)
    assert alarms.tick(100.0) == []  # the camera stopped: that is reported separately


def test_camera_lost_and_model_error_are_reported_and_clear_themselves() -> None:
    alarms = BedAlarms(CONFIG)
    events = alarms.set_technical(1.0, AlarmKind.CAMERA_LOST, True)
    assert transitions(events) == [(1.0, Transition.RAISED, AlarmKind.CAMERA_LOST)]
    assert alarms.set_technical(2.0, AlarmKind.CAMERA_LOST, True) == []  # already raised
    alarms.set_technical(3.0, AlarmKind.MODEL_ERROR, True, "CUDA out of memory")
    assert alarms.signal.text == "Camera lost · CUDA out of memory"
    assert transitions(alarms.set_technical(4.0, AlarmKind.CAMERA_LOST, False)) == [
        (4.0, Transition.CLEARED, AlarmKind.CAMERA_LOST)]
    assert [a.kind for a in alarms.alarms] == [AlarmKind.MODEL_ERROR]
    with pytest.raises(ValueError, match="not a reported technical alarm"):
        alarms.set_technical(5.0, AlarmKind.PAIN, True)


def test_pain_outranks_technical_alarms_in_the_signal() -> None:
    alarms = BedAlarms(CONFIG)
    alarms.set_technical(0.0, AlarmKind.MODEL_ERROR, True)
    feed(alarms, 0.0, 10.5, 4.0)
    signal = alarms.signal
    assert signal.priority is Priority.MEDIUM and signal.flashing
    assert signal.text == "Pain ≥ 3 for 10 s · Model error"
    assert [a.kind for a in alarms.alarms] == [AlarmKind.PAIN, AlarmKind.MODEL_ERROR]


def test_audio_pause_silences_for_its_duration_and_visuals_continue() -> None:
    alarms = BedAlarms(CONFIG)
    feed(alarms, 0.0, 10.5, 4.0)
    events = alarms.pause_audio(11.0)
    assert [e.transition for e in events] == [Transition.AUDIO_PAUSED]
    assert events[0].kind is None and events[0].uid is None
    assert alarms.audio_paused and not alarms.audible and alarms.signal.flashing
    assert alarms.audio_pause_left(11.0) == AUDIO_PAUSE_S  # for the audio-paused indication
    assert alarms.audio_pause_left(12.5) == AUDIO_PAUSE_S - 1.5
    assert feed(alarms, 11.0, 11.0 + AUDIO_PAUSE_S, 4.0) == []
    events = alarms.update(11.0 + AUDIO_PAUSE_S, 4.0)
    assert [e.transition for e in events] == [Transition.AUDIO_RESUMED]
    assert alarms.audible and alarms.audio_pause_left(11.0 + AUDIO_PAUSE_S) == 0.0


def test_time_going_back_is_an_error() -> None:
    alarms = BedAlarms(CONFIG)
    alarms.update(5.0, 1.0)
    with pytest.raises(ValueError, match="went back"):
        alarms.update(4.0, 1.0)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("threshold", 0.0, "threshold"),
    ("threshold", 5.5, "threshold"),
    ("delay_s", -1.0, "alarm delay"),
    ("no_face_delay_s", -1.0, "no-face delay"),
    ("realarm_after_s", 60.0, "re-alarm interval must be 120–180 s"),
])
def test_config_rejects_values_out_of_range(field: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AlarmConfig(**{field: value})


def test_flash_rates_are_within_iec_ranges() -> None:
    assert 1.4 <= FLASH_HZ[Priority.HIGH] <= 2.8
    assert 0.4 <= FLASH_HZ[Priority.MEDIUM] <= 0.8
    assert FLASH_HZ[Priority.LOW] == 0.0
