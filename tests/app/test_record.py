"""The SQLite record: round trips through a real database, WAL concurrency, clear errors, and crash safety
(a writer process killed with SIGKILL keeps every sample older than one second)."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.alarms import AlarmConfig, AlarmEvent, AlarmKind, BedAlarms, Priority, Transition
from app.record import (
    SCHEMA_VERSION,
    AnnotationKind,
    RecordError,
    RecordReader,
    check_record,
    record_path,
)
from app.record_writer import MAX_TEXT_LENGTH, RecordWriter, open_record
from engine.paths import data_dir
from engine.status import FrameStatus
from tests.helpers import BEFORE_STAYS, ROOT, write_session

T0 = 1_750_000_000.0  # a wall-clock time in 2025


def run_alarm_scenario(alarms: BedAlarms) -> list[AlarmEvent]:
    """Pain alarm raised, acknowledged, re-alarmed, acknowledged, cleared; a no-face alarm; an audio pause."""
    events: list[AlarmEvent] = []
    for i in range(400):  # 0 … 199.5 s, two scores a second
        t = T0 + i * 0.5
        score = 4.0 if i < 340 else math.nan if 360 <= i < 376 else 1.0
        events += alarms.update(t, score)
        if i in (22, 324):
            events += alarms.acknowledge(t)
        if i == 22:
            events += alarms.pause_audio(t)
    return events


def test_session_samples_alarms_and_annotations_round_trip() -> None:
    alarms = BedAlarms(AlarmConfig(threshold=3.0, delay_s=10.0, no_face_delay_s=5.0), bed="b1")
    events = run_alarm_scenario(alarms)
    times = T0 + np.arange(100) * 0.1
    scores = np.where(np.arange(100) % 10 < 3, np.nan, np.linspace(0.0, 5.0, 100))

    with RecordWriter() as writer:
        assert writer.path == record_path() and writer.path.parent == data_dir()
        session = writer.start_session("b1", "Bed 1", source="simulated:1", started_at=T0, patient="P-7",
                                       model="demo 0.1")
        for t, score in zip(times, scores, strict=True):
            writer.add_sample(session, t, score, "ok" if np.isfinite(score) else "no_face")
        for event in events:
            writer.add_alarm_event(session, event)
        writer.add_annotation(session, T0 + 3.0, AnnotationKind.ANALGESIC)
        writer.add_annotation(session, T0 + 5.0, AnnotationKind.NOTE, "family visiting")
        writer.end_session(session, T0 + 200.0)

    with RecordReader() as reader:
        [info] = reader.sessions()
        assert (info.id, info.bed_id, info.bed_name, info.patient, info.source, info.model) == (
            session, "b1", "Bed 1", "P-7", "simulated:1", "demo 0.1")
        assert (info.started_at, info.ended_at) == (T0, T0 + 200.0)

        samples = reader.samples(session)
        assert len(samples) == 100
        np.testing.assert_array_equal(samples.t, times)
        np.testing.assert_array_equal(samples.score, scores)  # NaN gaps come back as NaN, not 0
        assert list(samples.status[:4]) == ["no_face"] * 3 + ["ok"]
        window = reader.samples(session, T0 + 2.0, T0 + 2.95)
        np.testing.assert_array_equal(window.t, times[20:30])

        episodes = reader.alarms(session)
        assert [(e.kind, e.raised_at, e.acknowledged_at, e.cleared_at) for e in episodes] == [
            (AlarmKind.PAIN, T0 + 10.0, T0 + 11.0, T0 + 170.0),
            (AlarmKind.NO_FACE, T0 + 185.0, None, T0 + 188.0),
        ]
        assert episodes[0].priority == 2 and episodes[0].message == "Pain ≥ 3 for 10 s"
        assert [e.kind for e in reader.alarms(session, T0 + 171.0, T0 + 184.0)] == []
        assert [e.kind for e in reader.alarms(session, T0 + 120.0, T0 + 186.0)] == [AlarmKind.PAIN,
                                                                                     AlarmKind.NO_FACE]

        log = reader.alarm_log(session)
        assert [(e.t - T0, e.transition) for e in log] == [(ev.t - T0, ev.transition) for ev in events]
        assert [e.transition for e in log if e.alarm_uid == episodes[0].uid] == [
            Transition.RAISED, Transition.ACKNOWLEDGED, Transition.REALARMED, Transition.ACKNOWLEDGED,
            Transition.CLEARED]
        paused = next(e for e in log if e.transition is Transition.AUDIO_PAUSED)
        assert paused.alarm_uid is None

        notes = reader.annotations(session)
        assert [(a.t, a.kind, a.text) for a in notes] == [
            (T0 + 3.0, AnnotationKind.ANALGESIC, ""), (T0 + 5.0, AnnotationKind.NOTE, "family visiting")]
        assert notes[0].kind.label == "Analgesic given"
        assert reader.annotations(session, T0 + 4.0) == notes[1:]


def test_sessions_per_bed_keep_history_across_bed_renames() -> None:
    with RecordWriter() as writer:
        first = writer.start_session("b1", "Bed 1", source="camera 0", started_at=T0)
        writer.start_session("b2", "Bed 2", source="camera 1", started_at=T0 + 1, patient="P-1")
        third = writer.start_session("b1", "Window bed", source="camera 0", started_at=T0 + 2, patient="P-1")
    with RecordReader() as reader:
        assert [s.id for s in reader.sessions("b1")] == [first, third]
        assert {s.bed_name for s in reader.sessions("b1")} == {"Window bed"}
        assert [s.patient for s in reader.sessions()] == ["", "P-1", "P-1"]
        assert reader.sessions()[0].ended_at is None  # never ended: open, or the app crashed


def test_a_reader_sees_batches_while_the_writer_keeps_writing() -> None:
    """WAL: a second connection reads committed batches during writing, without flush and without locks."""
    with RecordWriter(flush_interval_s=0.25) as writer:
        session = writer.start_session("b1", "Bed 1", source="simulated", started_at=T0)
        with RecordReader() as reader:
            for i in range(50):
                writer.add_sample(session, T0 + i, 2.0, "ok")
            deadline = time.monotonic() + 5.0
            while len(reader.samples(session)) < 50 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(reader.samples(session)) == 50


def test_a_blocked_commit_is_reported_and_retried_without_losing_samples() -> None:
    """Another program holds the write lock: the writer reports it, keeps the samples, and catches up."""
    with RecordWriter(flush_interval_s=0.1, lock_timeout_s=0.1) as writer:
        session = writer.start_session("b1", "Bed 1", source="simulated", started_at=T0)
        blocker = sqlite3.connect(writer.path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        for i in range(20):
            writer.add_sample(session, T0 + i, 1.0, "ok")
        deadline = time.monotonic() + 5.0
        while writer.error is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert writer.error is not None and "database is locked" in writer.error
        blocker.execute("COMMIT")
        blocker.close()
        writer.flush()
        assert writer.error is None
    with RecordReader() as reader:
        assert len(reader.samples(session)) == 20


def test_open_errors_are_one_line_record_errors(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="no painmon record at"):
        RecordReader(tmp_path / "missing.sqlite")

    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(RecordError, match=r"cannot open record .*junk\.sqlite"):
        RecordWriter(junk)

    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    db.close()
    with pytest.raises(RecordError, match="an SQLite database but not a painmon record"):
        RecordWriter(other)
    with pytest.raises(RecordError, match="not a painmon record"):
        RecordReader(other)

    newer = tmp_path / "newer.sqlite"
    RecordWriter(newer).close()
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(RecordError, match="newer painmon"):
        RecordReader(newer)


def test_misuse_is_refused_in_the_callers_thread() -> None:
    writer = RecordWriter()
    session = writer.start_session("b1", "Bed 1", source="simulated", started_at=T0)
    with pytest.raises(ValueError, match="a note needs text"):
        writer.add_annotation(session, T0, AnnotationKind.NOTE, "  ")
    with pytest.raises(ValueError, match="flush interval"):
        RecordWriter(flush_interval_s=2.0)
    writer.close()
    with pytest.raises(RecordError, match="is closed"):
        writer.add_sample(session, T0, 1.0, "ok")
    assert writer.error is None


def test_deleting_old_sessions_leaves_nothing_of_them_in_the_file() -> None:
    """Data retention: old sessions go with their samples, alarms, notes and patients, and their bytes are
    overwritten, not left in free pages; recent, open and kept sessions stay."""
    day = 86_400.0
    alarms = BedAlarms(AlarmConfig(threshold=3.0, delay_s=1.0), bed="b1")
    with RecordWriter() as writer:
        old = writer.start_session("b1", "Bed 1", source="camera 0", started_at=T0, patient="OLD-PATIENT-7")
        for i in range(50):
            writer.add_sample(old, T0 + i, 4.0, FrameStatus.OK)
            for event in alarms.update(T0 + i, 4.0):
                writer.add_alarm_event(old, event)
        writer.add_annotation(old, T0 + 3, AnnotationKind.NOTE, "OLD-NOTE-TEXT")
        writer.end_session(old, T0 + 60)
        crashed = writer.start_session("b2", "Bed 2", source="camera 1", started_at=T0)  # never ended
        writer.add_sample(crashed, T0 + 40 * day, 1.0, FrameStatus.OK)  # but active until recently
        still_open = writer.start_session("b3", "Bed 3", source="camera 2", started_at=T0)
        recent = writer.start_session("b1", "Bed 1", source="camera 0", started_at=T0 + 45 * day,
                                      patient="NEW-PATIENT-8")
        writer.delete_sessions_before(T0 + 30 * day, keep={still_open})
        writer.flush()
        assert writer.take_failures() == []
    with RecordReader() as reader:
        assert [s.id for s in reader.sessions()] == [crashed, still_open, recent]
        assert len(reader.samples(old)) == 0 and reader.alarms(old) == [] and reader.annotations(old) == []
    data = record_path().read_bytes()
    assert not record_path().with_name("record.sqlite-wal").exists()
    assert b"OLD-PATIENT-7" not in data and b"OLD-NOTE-TEXT" not in data and b"NEW-PATIENT-8" in data


def test_a_damaged_record_is_set_aside_and_a_new_one_opened() -> None:
    path = record_path()
    write_session(path)
    assert check_record(path) is None
    data = bytearray(path.read_bytes())
    data[2 * 4096:3 * 4096] = b"\xff" * 4096  # the second page: the beds table
    path.write_bytes(bytes(data))
    assert "is damaged" in (check_record(path) or "")
    writer, notice = open_record()
    with writer:
        session = writer.start_session("b1", "Bed 1", source="camera 0", started_at=T0)
    [aside] = path.parent.glob("record.sqlite.damaged-*[0-9]")
    assert aside.read_bytes() == data and notice is not None and aside.name in notice
    with RecordReader() as reader:
        assert [s.id for s in reader.sessions()] == [session]
    path.unlink()
    with sqlite3.connect(path) as db:  # a sound database, but not a record: set aside too
        db.execute("CREATE TABLE t (x)")
    db.close()
    writer, notice = open_record()
    writer.close()
    assert notice is not None and "an SQLite database but not a painmon record" in notice
    assert len(list(path.parent.glob("record.sqlite.damaged-*[0-9]"))) == 2
    writer, notice = open_record()  # a good record is left alone
    writer.close()
    assert notice is None


BEDS = ("bed-a", "bed-b", "bed-c", "bed-d")
HUGE = "x" * (MAX_TEXT_LENGTH + 1)
BAD_TEXT: list[Any] = ["\ud800", "a\x00b", "\udcff tail", HUGE, 42, None, b"bytes", ["a list"], 1.5]
BAD_NUMBERS: list[Any] = [math.nan, math.inf, -math.inf, "12.5", None, b"1", [1.0], True, object()]
UNSTORABLE = ("\ud800", "a\x00b", "\udcff tail")  # stored with U+FFFD in place of the odd character


def bad_rows(writer: RecordWriter, session: int, t: float) -> list[tuple[Callable[[], None], bool]]:
    """Every kind of bad row for one session: (queue it, whether it must be refused rather than stored
    normalised)."""
    rows: list[tuple[Callable[[], None], bool]] = []

    def event(**changes: Any) -> AlarmEvent:
        fields = {"t": t, "bed": "", "transition": Transition.RAISED, "kind": AlarmKind.CAMERA_LOST,
                  "priority": Priority.LOW, "uid": f"{session}-{len(rows)}", "message": "lost"}
        return AlarmEvent(**{**fields, **changes})

    for number in BAD_NUMBERS:
        a_gap = isinstance(number, float) and not math.isfinite(number)  # a NaN or infinite score: no score
        rows += [(partial(writer.add_sample, session, number, 1.0, FrameStatus.OK), True),
                 (partial(writer.add_sample, session, t, number, FrameStatus.OK), not a_gap),
                 (partial(writer.add_alarm_event, session, event(t=number)), True),
                 (partial(writer.end_session, session, number), True)]
    for text in BAD_TEXT:
        refused = text not in UNSTORABLE
        rows += [(partial(writer.add_sample, session, t, 1.0, text), True),  # not a frame status
                 (partial(writer.add_annotation, session, t, AnnotationKind.NOTE, text), refused),
                 (partial(writer.add_alarm_event, session, event(message=text)), refused)]
    rows.append((partial(writer.add_alarm_event, session, "not an event"), True))
    return rows


def test_record_writer_survives_every_kind_of_bad_row_and_keeps_every_good_one() -> None:
    """Stress: bad text and bad numbers interleaved with good samples from four beds. Each bad row is refused
    on its own and reported naming its bed, or stored normalised; every good row is kept; the writer lives."""
    with RecordWriter(flush_interval_s=0.05) as writer:
        sessions = {bed: writer.start_session(bed, f"Bed {i}", source="simulated", started_at=T0)
                    for i, bed in enumerate(BEDS)}
        good: dict[str, list[float]] = {bed: [] for bed in BEDS}
        bad = {bed: bad_rows(writer, sessions[bed], T0) for bed in BEDS}
        refused = Counter({bed: sum(must_refuse for _, must_refuse in rows) for bed, rows in bad.items()})
        for i in range(1600):
            bed, t = BEDS[i % 4], T0 + 1 + i * 0.01
            writer.add_sample(sessions[bed], t, (i % 50) / 10, FrameStatus.OK)
            good[bed].append(t)
            if i // 4 < len(bad[bed]):
                bad[bed][i // 4][0]()
        assert all(len(rows) < 400 for rows in bad.values())  # every bad row was queued
        writer.add_sample("no session", T0, 1.0, FrameStatus.OK)  # type: ignore[arg-type]
        writer.add_sample(10**30, T0, 1.0, FrameStatus.OK)
        writer.add_sample(max(sessions.values()) + 1, T0, 1.0, FrameStatus.OK)  # a session never opened
        with pytest.raises(RecordError, match="bed name must be text"):
            writer.start_session("bed-e", 42, source="simulated", started_at=T0)  # type: ignore[arg-type]
        writer.flush()
        failures = writer.take_failures()
        assert writer.error is None and writer.take_failures() == []
        assert Counter(f.bed_id for f in failures) == {**refused, None: 3, "bed-e": 1}
        assert all("\n" not in f.message and len(f.message) < 300 for f in failures)
        assert any("time must be finite" in f.message for f in failures)
        for bed in BEDS:  # the writer still works for every bed
            writer.add_sample(sessions[bed], T0 + 200, 2.0, FrameStatus.OK)
            good[bed].append(T0 + 200)
    with RecordReader() as reader:
        assert len(reader.sessions()) == 4
        for bed in BEDS:
            [session] = reader.sessions(bed)
            samples = reader.samples(session.id)
            np.testing.assert_array_equal(samples.t[samples.t > T0 + 0.5], good[bed])
            texts = [a.text for a in reader.annotations(session.id)]
            texts += [e.message for e in reader.alarm_log(session.id)]
            assert "a\ufffdb" in texts and "\ufffd tail" in texts
            assert not any(c in text for text in texts for c in "\x00\ud800\udcff")


# A recorder process: writes a sample every 10 ms and prints "index time" after queuing each one.
RECORDER = """
import math, sys, time
from pathlib import Path
from app.record_writer import RecordWriter

writer = RecordWriter(Path(sys.argv[1]))
session = writer.start_session("b1", "Bed 1", source="simulated", started_at=time.time())
print("session", session, flush=True)
i = 0
while True:
    score = math.nan if i % 40 < 8 else (i % 6) * 0.8
    t = time.time()
    writer.add_sample(session, t, score, "ok" if score == score else "no_face")
    print(i, repr(t), flush=True)
    i += 1
    time.sleep(0.01)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_during_recording_keeps_every_sample_older_than_one_second(tmp_path: Path) -> None:
    path = tmp_path / "record.sqlite"
    child = subprocess.Popen([sys.executable, "-c", RECORDER, str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        first = child.stdout.readline() if child.stdout else ""
        assert first.startswith("session"), child.stderr.read() if child.stderr else first
        session = int(first.split()[1])
        time.sleep(2.5)
        killed_at = time.time()
        os.kill(child.pid, signal.SIGKILL)
        out, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    queued = {float(t) for _, t in (line.split() for line in out.splitlines())}
    assert len(queued) > 100

    with sqlite3.connect(path) as db:  # the file opens and is consistent
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    with RecordReader(path) as reader:
        samples = reader.samples(session)
    stored = set(samples.t.tolist())
    old = {t for t in queued if t < killed_at - 1.0}
    assert old <= stored, f"{len(old - stored)} samples older than 1 s were lost"
    assert len(stored - queued) <= 1  # the kill may fall between queuing a sample and printing it
    assert np.isnan(samples.score[samples.status == "no_face"]).all()
    assert np.isfinite(samples.score[samples.status == "ok"]).all()


def test_a_face_quality_and_its_reason_are_kept_with_each_sample() -> None:
    with RecordWriter() as writer:
        session = writer.start_session("bed-1", "Bed 1", source="camera 0", started_at=T0)
        writer.add_sample(session, T0, 2.5, FrameStatus.OK, quality=0.9)
        writer.add_sample(session, T0 + 0.5, math.nan, FrameStatus.LOW_QUALITY, quality=0.2, detail="blurred")
        writer.add_sample(session, T0 + 1.0, math.nan, FrameStatus.NOT_APPLICABLE, quality=0.8)
    with RecordReader() as reader:
        samples = reader.samples(session)
    assert samples.status.tolist() == ["ok", "low_quality", "not_applicable"]
    np.testing.assert_array_equal(samples.quality, [0.9, 0.2, 0.8])
    assert samples.detail.tolist() == ["", "blurred", ""]


def schema_of(path: Path) -> tuple[int, set[str]]:
    """A record's version and the names of its indexes."""
    with sqlite3.connect(path) as db:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        indexes = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    db.close()
    return version, indexes


def test_a_version_1_record_is_upgraded_in_place_and_keeps_its_sessions(tmp_path: Path) -> None:
    """A record written before samples had a quality (schema 1) opens, reads with unknown qualities, and
    takes new samples with theirs."""
    path = tmp_path / "record.sqlite"
    session = write_session(path)
    with sqlite3.connect(path) as db:  # back to what painmon wrote before schema 2
        db.executescript(BEFORE_STAYS + "ALTER TABLE samples DROP COLUMN quality; "
                         "ALTER TABLE samples DROP COLUMN detail; DROP INDEX alarm_events_by_t; "
                         "PRAGMA user_version=1;")
    db.close()
    with RecordReader(path) as reader:
        samples = reader.samples(session)
    assert len(samples) == 480 and np.isnan(samples.quality).all() and set(samples.detail) == {""}
    version, indexes = schema_of(path)
    assert version == SCHEMA_VERSION == 5 and "alarm_events_by_t" in indexes
    with RecordWriter(path) as writer:
        writer.add_sample(session, T0 + 300, 1.0, FrameStatus.OK, quality=0.75)
    with RecordReader(path) as reader:
        assert reader.samples(session, start=T0 + 300).quality.tolist() == [0.75]


def test_a_version_2_record_gets_the_alarm_history_index_and_its_history(tmp_path: Path) -> None:
    """A record written before alarm events were indexed by time alone (schema 2) is upgraded in place when
    opened, and its alarm history reads back."""
    path = tmp_path / "record.sqlite"
    write_session(path)
    with sqlite3.connect(path) as db:  # back to what painmon wrote before schema 3
        db.executescript(BEFORE_STAYS + "DROP INDEX alarm_events_by_t; PRAGMA user_version=2;")
    db.close()
    assert schema_of(path) == (2, {"samples_by_time", "alarm_events_by_time", "sqlite_autoindex_beds_1",
                                   "sqlite_autoindex_patients_1", "sqlite_autoindex_alarms_1"})
    with RecordReader(path) as reader:
        history = reader.alarm_history()
    assert schema_of(path)[0] == 5 and "alarm_events_by_t" in schema_of(path)[1]
    with sqlite3.connect(path) as db:
        plan = " ".join(row[-1] for row in db.execute(
            "EXPLAIN QUERY PLAN SELECT t FROM alarm_events WHERE t BETWEEN 0 AND 1 ORDER BY t DESC LIMIT 5"))
    db.close()
    assert "alarm_events_by_t" in plan  # the newest events of all sessions are found without a scan
    assert [(r.bed_name, r.kind, r.transition) for r in reversed(history)] == [
        ("Bed 3", AlarmKind.PAIN, t) for t in (Transition.RAISED, Transition.LATCHED, Transition.ACKNOWLEDGED,
                                               Transition.CLEARED)]


def test_the_alarm_history_of_every_session_comes_back_newest_first_and_filtered() -> None:
    """Two beds over three sessions (one bed renamed): pain, no-face and camera-lost alarms and an audio
    pause, read back by time range, bed, minimum priority and count."""
    first = BedAlarms(AlarmConfig(threshold=3.0, delay_s=2.0, no_face_delay_s=3.0), bed="Bed 1")
    second = BedAlarms(AlarmConfig(threshold=3.0, delay_s=2.0), bed="Bed 2")
    with RecordWriter() as writer:
        old = writer.start_session("bed-1", "Bed 1", source="camera 0", started_at=T0)
        for i in range(20):  # pain at 0–4 s (raised at 2 s), no face from 4.5 s (raised at 7.5 s)
            for event in first.update(T0 + i * 0.5, 4.0 if i < 9 else math.nan):
                writer.add_alarm_event(old, event)
        writer.end_session(old, T0 + 10)
        other = writer.start_session("bed-2", "Bed 2", source="camera 1", started_at=T0 + 20)
        events = second.set_technical(T0 + 21, AlarmKind.CAMERA_LOST, True) + second.pause_audio(T0 + 22)
        for event in events + second.set_technical(T0 + 23, AlarmKind.CAMERA_LOST, False):
            writer.add_alarm_event(other, event)
        writer.start_session("bed-1", "Window bed", source="camera 0", started_at=T0 + 30)  # renamed
    with RecordReader() as reader:
        history = reader.alarm_history()
        assert [r.t for r in history] == sorted((r.t for r in history), reverse=True)
        assert [(r.t - T0, r.bed_id, r.bed_name, r.alarm, r.priority, r.transition) for r in history] == [
            (23.0, "bed-2", "Bed 2", "camera lost", Priority.LOW, Transition.CLEARED),
            (22.0, "bed-2", "Bed 2", "audio signal", Priority.NONE, Transition.AUDIO_PAUSED),
            (21.0, "bed-2", "Bed 2", "camera lost", Priority.LOW, Transition.RAISED),
            (7.5, "bed-1", "Window bed", "no face", Priority.LOW, Transition.RAISED),
            (6.5, "bed-1", "Window bed", "pain", Priority.MEDIUM, Transition.LATCHED),
            (2.0, "bed-1", "Window bed", "pain", Priority.MEDIUM, Transition.RAISED)]
        assert history[1].kind is None and history[1].message == "Audio paused for 120 s"
        assert history[-1].message == "Pain ≥ 3 for 2 s"
        assert reader.alarm_history(T0 + 6, T0 + 22) == history[1:5]
        assert reader.alarm_history(bed_ids=["bed-2"]) == history[:3]
        assert reader.alarm_history(bed_ids=["bed-1", "bed-2"]) == history
        assert reader.alarm_history(bed_ids=[]) == []
        assert reader.alarm_history(min_priority=Priority.LOW) == history[:1] + history[2:]
        assert reader.alarm_history(min_priority=Priority.MEDIUM) == history[4:]
        assert reader.alarm_history(min_priority=Priority.HIGH) == []
        assert reader.alarm_history(limit=2) == history[:2]
        assert reader.beds() == {"bed-2": "Bed 2", "bed-1": "Window bed"}
