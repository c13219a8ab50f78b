"""The SQLite record of everything the monitor saw: beds, patients, stays, sessions, per-frame samples, alarms
and annotations: its schema, opening and checking it, and `RecordReader`, which gives stays, sessions,
samples, alarms and annotations back for replay and export, and the alarm history of all sessions for the
alarm log (any thread may read). No Qt. All writes go through
`app.record_writer.RecordWriter`.

Times are wall-clock seconds since the Unix epoch. A sample without a score (no face, no camera, privacy
pause) has score NULL (NaN when read) and a status saying why: a gap, never 0. A stay is one patient in one
bed from admission to discharge; each session (one run of the app on a bed) belongs to at most one stay.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.alarms import AlarmKind, Priority, Transition
from engine.errors import PainmonError
from engine.files import PRIVATE_MODE
from engine.labelled import LabelledEnum
from engine.paths import data_dir

SCHEMA_VERSION = 5
_STAYS = """
CREATE TABLE stays (
    id INTEGER PRIMARY KEY,
    bed_id TEXT NOT NULL REFERENCES beds(id),
    patient TEXT NOT NULL,
    admitted_at REAL NOT NULL,
    discharged_at REAL
);
CREATE INDEX stays_by_bed ON stays(bed_id, admitted_at);
"""
SCHEMA = """
CREATE TABLE beds (id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE patients (id INTEGER PRIMARY KEY, label TEXT NOT NULL UNIQUE);
""" + _STAYS + """
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    bed_id TEXT NOT NULL REFERENCES beds(id),
    patient_id INTEGER REFERENCES patients(id),
    source TEXT NOT NULL,
    model TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    stay_id INTEGER REFERENCES stays(id),
    alarm_limit REAL
);
CREATE INDEX sessions_by_stay ON sessions(stay_id);
CREATE TABLE samples (
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    t REAL NOT NULL,
    score REAL,
    status TEXT NOT NULL,
    quality REAL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX samples_by_time ON samples(session_id, t);
CREATE TABLE alarms (
    uid TEXT PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    kind TEXT NOT NULL,
    priority INTEGER NOT NULL,
    message TEXT NOT NULL,
    raised_at REAL NOT NULL,
    acknowledged_at REAL,
    cleared_at REAL
);
CREATE TABLE alarm_events (
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    t REAL NOT NULL,
    transition TEXT NOT NULL,
    alarm_uid TEXT REFERENCES alarms(uid),
    message TEXT NOT NULL
);
CREATE INDEX alarm_events_by_time ON alarm_events(session_id, t);
CREATE INDEX alarm_events_by_t ON alarm_events(t);
CREATE TABLE annotations (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    t REAL NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL
);
"""


MIGRATIONS = {
    1: "ALTER TABLE samples ADD COLUMN quality REAL; "
       "ALTER TABLE samples ADD COLUMN detail TEXT NOT NULL DEFAULT '';",
    2: "CREATE INDEX IF NOT EXISTS alarm_events_by_t ON alarm_events(t);",
    3: _STAYS + "ALTER TABLE sessions ADD COLUMN stay_id INTEGER REFERENCES stays(id); "
                "CREATE INDEX sessions_by_stay ON sessions(stay_id);",
    4: "ALTER TABLE sessions ADD COLUMN alarm_limit REAL;",
}
"""SQL that brings a record of each older version to the next (version 2: a sample's face quality and the
detail of its status, such as why the face was of too low quality; version 3: alarm events indexed by time
alone, for the alarm history of all sessions; version 4: patient stays, and each session's stay — none for
the sessions recorded before; version 5: each session's pain alarm limit — unknown before)."""


class RecordError(PainmonError):
    """The record database cannot be opened, is not a painmon record, or comes from a newer painmon."""


class AnnotationKind(LabelledEnum):
    """One-click event markers a nurse puts on the curve."""

    ANALGESIC = "analgesic", "Analgesic given"
    REPOSITIONED = "repositioned", "Repositioned"
    PROCEDURE = "procedure", "Procedure"
    NOTE = "note", "Note"


@dataclass(frozen=True)
class Session:
    """One bed watched without interruption of the app; ended_at is None while open or after a crash."""

    id: int
    bed_id: str
    bed_name: str
    patient: str
    source: str
    model: str
    started_at: float
    ended_at: float | None
    stay_id: int | None = None
    alarm_limit: float | None = None  # the bed's pain alarm limit during the session (None: not recorded)


@dataclass(frozen=True)
class Stay:
    """One patient in one bed from admission until discharge (discharged_at None while the stay is open);
    the patient label may be empty."""

    id: int
    bed_id: str
    bed_name: str
    patient: str
    admitted_at: float
    discharged_at: float | None


@dataclass(frozen=True)
class Samples:
    """Per-frame samples in time order: t (float64 s), score (float64, NaN for gaps), status (str), the face's
    quality (float64, NaN where unknown), the detail of the status (str: why the quality was too low, the
    model's error) and the session of each (int64)."""

    t: np.ndarray
    score: np.ndarray
    status: np.ndarray
    quality: np.ndarray
    detail: np.ndarray
    session: np.ndarray

    def __len__(self) -> int:
        return len(self.t)


@dataclass(frozen=True)
class AlarmRecord:
    """One alarm episode: raised, first acknowledged (if ever), cleared (None while still on)."""

    uid: str
    kind: AlarmKind
    priority: int
    message: str
    raised_at: float
    acknowledged_at: float | None
    cleared_at: float | None


@dataclass(frozen=True)
class AlarmLogEntry:
    """One alarm transition as logged; alarm_uid is None for audio-pause events."""

    t: float
    transition: Transition
    alarm_uid: str | None
    message: str


@dataclass(frozen=True)
class AlarmHistoryRow:
    """One alarm transition of any session, with its bed; kind is None and priority NONE for audio-pause
    events (they concern the bed's audible signal, not one alarm)."""

    t: float
    bed_id: str
    bed_name: str
    kind: AlarmKind | None
    priority: Priority
    transition: Transition
    message: str

    @property
    def alarm(self) -> str:
        """What the row is about, in words: the alarm kind's label, or "audio signal"."""
        return self.kind.label if self.kind is not None else "audio signal"


@dataclass(frozen=True)
class Annotation:
    """An event marker on a session's curve."""

    id: int
    t: float
    kind: AnnotationKind
    text: str

    @property
    def label(self) -> str:
        """How the marker is labelled (`marker_label`)."""
        return marker_label(self.kind, self.text)


def marker_label(kind: AnnotationKind, text: str) -> str:
    """How an event marker is labelled: its kind, and its text when it has one."""
    return f"{kind.label}: {text}" if text else kind.label


def record_path() -> Path:
    """Default location of the record database."""
    return data_dir() / "record.sqlite"


def connect(path: Path, create: bool, lock_timeout_s: float = 10.0) -> sqlite3.Connection:
    """Open (and with `create`, initialise) a record; RecordError for anything that is not one."""
    if not create and not path.exists():
        raise RecordError(f"no painmon record at {path}")
    try:
        if create:  # a new record, and its WAL and index files (SQLite copies the mode), are private
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_MODE))
        connection = sqlite3.connect(path, timeout=lock_timeout_s, check_same_thread=True)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version == 0 and create:
            tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables:
                raise RecordError(f"{path} is an SQLite database but not a painmon record")
            with connection:
                connection.executescript(f"BEGIN; {SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
            version = SCHEMA_VERSION
        elif version == 0:
            raise RecordError(f"{path} is not a painmon record")
        elif version > SCHEMA_VERSION:
            raise RecordError(f"{path} was written by a newer painmon (record version {version})")
        for older in range(version, SCHEMA_VERSION):  # upgrade in place, one transaction per step
            connection.executescript(f"BEGIN; {MIGRATIONS[older]} PRAGMA user_version={older + 1}; COMMIT;")
    except (sqlite3.DatabaseError, OSError) as exc:
        raise RecordError(f"cannot open record {path}: {exc}") from exc
    return connection


def check_record(path: Path) -> str | None:
    """Why the record at `path` is damaged (its pages fail SQLite's quick check), or None when it is not (or
    there is none yet). Reads only: a damaged file is never written to, not even by a checkpoint."""
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            problems = [row[0] for row in db.execute("PRAGMA quick_check(3)")]
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return f"{path} is damaged ({exc})"
    return None if problems == ["ok"] else f"{path} is damaged ({'; '.join(problems)})"


# -- reading ------------------------------------------------------------------------------------------
class RecordReader:
    """Read access to a record for replay and export; use from one thread (open one per thread)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or record_path()
        self._db = connect(self.path, create=False)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> RecordReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sessions(self, bed_id: str | None = None, stay_id: int | None = None) -> list[Session]:
        """Sessions, oldest first: of one bed, of one stay, or all."""
        rows = self._db.execute(
            "SELECT s.id, s.bed_id, b.name, coalesce(p.label, ''), s.source, s.model, s.started_at, "
            "s.ended_at, s.stay_id, s.alarm_limit FROM sessions s JOIN beds b ON b.id = s.bed_id "
            "LEFT JOIN patients p ON p.id = s.patient_id "
            "WHERE (?1 IS NULL OR s.bed_id = ?1) AND (?2 IS NULL OR s.stay_id = ?2) "
            "ORDER BY s.started_at, s.id", (bed_id, stay_id)).fetchall()
        return [Session(*row) for row in rows]

    def stays(self, bed_id: str | None = None, open_only: bool = False) -> list[Stay]:
        """Stays, oldest first, of one bed or of all; with `open_only`, those not discharged yet."""
        rows = self._db.execute(
            "SELECT st.id, st.bed_id, b.name, st.patient, st.admitted_at, st.discharged_at FROM stays st "
            "JOIN beds b ON b.id = st.bed_id WHERE (?1 IS NULL OR st.bed_id = ?1) "
            "AND (NOT ?2 OR st.discharged_at IS NULL) ORDER BY st.admitted_at, st.id",
            (bed_id, open_only)).fetchall()
        return [Stay(*row) for row in rows]

    def samples(self, session_id: int, start: float = -math.inf, end: float = math.inf) -> Samples:
        """Samples of a session with start <= t <= end."""
        return self._samples("session_id = ?", session_id, start, end)

    def stay_samples(self, stay_id: int, start: float = -math.inf, end: float = math.inf) -> Samples:
        """Samples of every session of a stay with start <= t <= end, in time order (one query)."""
        return self._samples("session_id IN (SELECT id FROM sessions WHERE stay_id = ?)", stay_id, start, end)

    def _samples(self, which: str, key: int, start: float, end: float) -> Samples:
        rows = self._db.execute(
            f"SELECT t, score, status, quality, detail, session_id FROM samples WHERE {which} "
            "AND t BETWEEN ? AND ? ORDER BY t, session_id", (key, start, end)).fetchall()
        t = np.array([r[0] for r in rows], dtype=np.float64)
        score = np.array([math.nan if r[1] is None else r[1] for r in rows], dtype=np.float64)
        status = np.array([r[2] for r in rows], dtype=str)
        quality = np.array([math.nan if r[3] is None else r[3] for r in rows], dtype=np.float64)
        return Samples(t, score, status, quality, np.array([r[4] for r in rows], dtype=str),
                       np.array([r[5] for r in rows], dtype=np.int64))

    def alarms(self, session_id: int, start: float = -math.inf, end: float = math.inf) -> list[AlarmRecord]:
        """Alarm episodes of a session that overlap [start, end], in the order they were raised."""
        rows = self._db.execute(
            "SELECT uid, kind, priority, message, raised_at, acknowledged_at, cleared_at FROM alarms "
            "WHERE session_id=? AND raised_at <= ? AND (cleared_at IS NULL OR cleared_at >= ?) "
            "ORDER BY raised_at, rowid", (session_id, end, start)).fetchall()
        return [AlarmRecord(uid, AlarmKind(kind), *rest) for uid, kind, *rest in rows]

    def alarm_log(self, session_id: int) -> list[AlarmLogEntry]:
        """Every alarm transition of a session, in order."""
        rows = self._db.execute(
            "SELECT t, transition, alarm_uid, message FROM alarm_events WHERE session_id=? ORDER BY t, rowid",
            (session_id,)).fetchall()
        return [AlarmLogEntry(t, Transition(why), uid, message) for t, why, uid, message in rows]

    def alarm_history(self, start: float = -math.inf, end: float = math.inf,
                      bed_ids: Collection[str] | None = None, min_priority: Priority = Priority.NONE,
                      limit: int | None = None) -> list[AlarmHistoryRow]:
        """Alarm transitions of every session with start <= t <= end, newest first (at most `limit`): of the
        beds in `bed_ids` (all when None), of at least `min_priority` (audio-pause events have none, so
        only Priority.NONE keeps them). Bed names are the beds' current ones."""
        beds = "" if bed_ids is None else f"AND s.bed_id IN ({', '.join('?' * len(bed_ids))}) "
        rows = self._db.execute(
            "SELECT e.t, s.bed_id, b.name, a.kind, coalesce(a.priority, 0), e.transition, e.message "
            "FROM alarm_events e JOIN sessions s ON s.id = e.session_id JOIN beds b ON b.id = s.bed_id "
            "LEFT JOIN alarms a ON a.uid = e.alarm_uid "
            f"WHERE e.t BETWEEN ? AND ? AND coalesce(a.priority, 0) >= ? {beds}"
            "ORDER BY e.t DESC, e.rowid DESC LIMIT ?",
            (start, end, int(min_priority), *(bed_ids or ()), -1 if limit is None else limit)).fetchall()
        return [AlarmHistoryRow(t, bed, name, None if kind is None else AlarmKind(kind), Priority(priority),
                                Transition(why), message)
                for t, bed, name, kind, priority, why, message in rows]

    def beds(self) -> dict[str, str]:
        """Every bed the record knows (also removed ones): its current name by id, in order of name."""
        return dict(self._db.execute("SELECT id, name FROM beds ORDER BY name, id").fetchall())

    def annotations(self, session_id: int, start: float = -math.inf, end: float = math.inf
                    ) -> list[Annotation]:
        """Event markers of a session with start <= t <= end."""
        rows = self._db.execute(
            "SELECT id, t, kind, text FROM annotations WHERE session_id=? AND t BETWEEN ? AND ? "
            "ORDER BY t, id",
            (session_id, start, end)).fetchall()
        return [Annotation(i, t, AnnotationKind(kind), text) for i, t, kind, text in rows]
