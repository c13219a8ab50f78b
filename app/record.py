"""The SQLite record of everything the monitor saw: beds, patients, sessions, per-frame samples, alarms and
annotations. No Qt: the writer runs its own thread and any thread may read.

All writes go through `RecordWriter`, which queues them and commits them in one transaction at least every
`flush_interval_s` (default 0.25 s) on its own thread and connection. The database is in WAL mode with
synchronous=FULL, so a crash or power loss loses at most the last fraction of a second and never corrupts
the file. `RecordReader` gives sessions, samples, alarms and annotations back for replay and export.

Times are wall-clock seconds since the Unix epoch. A sample without a score (no face, no camera, privacy
pause) has score NULL (NaN when read) and a status saying why: a gap, never 0.
"""

from __future__ import annotations

import math
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from app.alarms import AlarmEvent, AlarmKind, Transition
from engine.errors import PainmonError
from engine.labelled import LabelledEnum
from engine.paths import data_dir
from engine.status import FrameStatus

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE beds (id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE patients (id INTEGER PRIMARY KEY, label TEXT NOT NULL UNIQUE);
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    bed_id TEXT NOT NULL REFERENCES beds(id),
    patient_id INTEGER REFERENCES patients(id),
    source TEXT NOT NULL,
    model TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL
);
CREATE TABLE samples (
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    t REAL NOT NULL,
    score REAL,
    status TEXT NOT NULL
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
CREATE TABLE annotations (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    t REAL NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL
);
"""


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


@dataclass(frozen=True)
class Samples:
    """Per-frame samples in time order: t (float64 s), score (float64, NaN for gaps), status (str)."""

    t: np.ndarray
    score: np.ndarray
    status: np.ndarray

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
class Annotation:
    """An event marker on a session's curve."""

    id: int
    t: float
    kind: AnnotationKind
    text: str


def record_path() -> Path:
    """Default location of the record database."""
    return data_dir() / "record.sqlite"


def _connect(path: Path, create: bool, lock_timeout_s: float = 10.0) -> sqlite3.Connection:
    """Open (and with `create`, initialise) a record; RecordError for anything that is not one."""
    if not create and not path.exists():
        raise RecordError(f"no painmon record at {path}")
    try:
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
        elif version == 0:
            raise RecordError(f"{path} is not a painmon record")
        elif version > SCHEMA_VERSION:
            raise RecordError(f"{path} was written by a newer painmon (record version {version})")
    except sqlite3.DatabaseError as exc:
        raise RecordError(f"cannot open record {path}: {exc}") from exc
    return connection


# -- writing ------------------------------------------------------------------------------------------
_Write = Callable[[sqlite3.Connection], object]


def _insert_session(db: sqlite3.Connection, *, bed_id: str, bed_name: str, patient: str, source: str,
                    model: str, started_at: float) -> int:
    db.execute("INSERT INTO beds(id, name) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET name=excluded.name",
               (bed_id, bed_name))
    patient_id = None
    if patient:
        db.execute("INSERT OR IGNORE INTO patients(label) VALUES (?)", (patient,))
        patient_id = db.execute("SELECT id FROM patients WHERE label=?", (patient,)).fetchone()[0]
    cursor = db.execute(
        "INSERT INTO sessions(bed_id, patient_id, source, model, started_at) VALUES (?, ?, ?, ?, ?)",
        (bed_id, patient_id, source, model, started_at))
    return int(cursor.lastrowid or 0)


def _apply_alarm_event(db: sqlite3.Connection, session_id: int, event: AlarmEvent) -> None:
    if event.transition is Transition.RAISED:
        db.execute("INSERT INTO alarms(uid, session_id, kind, priority, message, raised_at) "
                   "VALUES (?, ?, ?, ?, ?, ?)",
                   (event.uid, session_id, str(event.kind), int(event.priority), event.message, event.t))
    elif event.transition is Transition.ACKNOWLEDGED:
        db.execute("UPDATE alarms SET acknowledged_at=coalesce(acknowledged_at, ?) WHERE uid=?",
                   (event.t, event.uid))
    elif event.transition is Transition.CLEARED:
        db.execute("UPDATE alarms SET cleared_at=? WHERE uid=?", (event.t, event.uid))
    db.execute("INSERT INTO alarm_events(session_id, t, transition, alarm_uid, message) VALUES (?,?,?,?,?)",
               (session_id, event.t, str(event.transition), event.uid, event.message))


class _Request:
    """A write (or nothing, for flush) whose caller waits until it is committed."""

    def __init__(self, write: _Write | None) -> None:
        self.write = write
        self.future: Future[Any] = Future()


_STOP = object()


class RecordWriter:
    """Queues writes from any thread and commits them on its own thread, batched, at least once a second.

    Methods return at once except `start_session` and `flush`, which wait for their commit. If a commit
    fails (disk full, or another program holds the write lock for over `lock_timeout_s`), the writes are
    kept and retried every interval and `error` says what is wrong. Call `close()` when done (or use
    `with`): it commits what is queued.
    """

    def __init__(self, path: Path | None = None, flush_interval_s: float = 0.25,
                 lock_timeout_s: float = 1.0) -> None:
        if not 0.0 < flush_interval_s <= 1.0:
            raise ValueError(f"flush interval must be in (0, 1] s, got {flush_interval_s}")
        self.path = path or record_path()
        self.flush_interval_s = flush_interval_s
        self.lock_timeout_s = lock_timeout_s
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._error: str | None = None
        opened: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, args=(opened,), name="record-writer", daemon=True)
        self._thread.start()
        opened.result()  # raises RecordError here if the database cannot be opened

    @property
    def error(self) -> str | None:
        """Why the last commit failed, or None when writing works."""
        return self._error

    def start_session(self, bed_id: str, bed_name: str, *, source: str, started_at: float, patient: str = "",
                      model: str = "") -> int:
        """Open a session for a bed (upserting bed and patient) and return its id once committed."""
        request = _Request(partial(_insert_session, bed_id=bed_id, bed_name=bed_name, patient=patient,
                                   source=source, model=model, started_at=_time(started_at)))
        return int(self._submit(request))

    def add_sample(self, session_id: int, t: float, score: float, status: FrameStatus) -> None:
        """Queue one frame's result; a NaN score is stored as NULL."""
        value = float(score) if math.isfinite(score) else None
        self._put_sql("INSERT INTO samples(session_id, t, score, status) VALUES (?, ?, ?, ?)",
                      (int(session_id), _time(t), value, str(status)))

    def add_alarm_event(self, session_id: int, event: AlarmEvent) -> None:
        """Queue an alarm transition: the episode row is created or updated and the log gets an entry."""
        session_id = int(session_id)
        self._put(lambda db: _apply_alarm_event(db, session_id, event))

    def add_annotation(self, session_id: int, t: float, kind: AnnotationKind, text: str = "") -> None:
        """Queue an event marker; a free-text note must have text."""
        kind = AnnotationKind(kind)
        if kind is AnnotationKind.NOTE and not text.strip():
            raise ValueError("a note needs text")
        self._put_sql("INSERT INTO annotations(session_id, t, kind, text) VALUES (?, ?, ?, ?)",
                      (int(session_id), _time(t), str(kind), text))

    def end_session(self, session_id: int, ended_at: float) -> None:
        """Queue the end of a session."""
        self._put_sql("UPDATE sessions SET ended_at=? WHERE id=?", (_time(ended_at), int(session_id)))

    def flush(self, timeout: float | None = 10.0) -> None:
        """Wait until everything queued so far is committed."""
        self._submit(_Request(None), timeout)

    def close(self) -> None:
        """Commit what is queued and stop the writer thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _put(self, item: _Write | _Request) -> None:
        if not self._thread.is_alive():
            raise RecordError(f"the record writer for {self.path} is closed")
        self._queue.put(item)

    def _submit(self, request: _Request, timeout: float | None = 10.0) -> Any:
        """Queue a request, wait for its commit and return the write's result."""
        self._put(request)
        return request.future.result(timeout)

    def _put_sql(self, sql: str, parameters: tuple[object, ...]) -> None:
        self._put(lambda db: db.execute(sql, parameters))

    def _run(self, opened: Future[None]) -> None:
        try:
            db = _connect(self.path, create=True, lock_timeout_s=self.lock_timeout_s)
        except RecordError as exc:
            opened.set_exception(exc)
            return
        opened.set_result(None)
        pending: list[_Write | _Request] = []
        deadline = time.monotonic() + self.flush_interval_s
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                item = None
            if item is _STOP:
                self._commit(db, pending)  # last try; on failure `error` says what was lost
                break
            if item is not None:
                pending.append(item)  # type: ignore[arg-type]
            due = time.monotonic() >= deadline
            if pending and (due or isinstance(item, _Request)) and not self._commit(db, pending):
                time.sleep(self.flush_interval_s)  # the disk failed: retry after a pause
            if due:
                deadline = time.monotonic() + self.flush_interval_s
        db.close()

    def _commit(self, db: sqlite3.Connection, pending: list[_Write | _Request]) -> bool:
        """Run every pending write in one transaction. On failure keep the plain writes for the next try;
        waiting callers get the error."""
        results: list[tuple[_Request, object]] = []
        try:
            with db:
                for item in pending:
                    if isinstance(item, _Request):
                        results.append((item, item.write(db) if item.write else None))
                    else:
                        item(db)
        except sqlite3.Error as exc:
            self._error = f"cannot write the record {self.path}: {exc}"
            for item in pending:
                if isinstance(item, _Request):
                    item.future.set_exception(RecordError(self._error))
            pending[:] = [item for item in pending if not isinstance(item, _Request)]
            return False
        self._error = None
        pending.clear()
        for request, result in results:
            request.future.set_result(result)
        return True


def _time(t: float) -> float:
    t = float(t)
    if not math.isfinite(t):
        raise ValueError(f"time must be finite, got {t}")
    return t


# -- reading ------------------------------------------------------------------------------------------
class RecordReader:
    """Read access to a record for replay and export; use from one thread (open one per thread)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or record_path()
        self._db = _connect(self.path, create=False)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> RecordReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sessions(self, bed_id: str | None = None) -> list[Session]:
        """Sessions, oldest first, of one bed or of all."""
        rows = self._db.execute(
            "SELECT s.id, s.bed_id, b.name, coalesce(p.label, ''), s.source, s.model, s.started_at, "
            "s.ended_at FROM sessions s JOIN beds b ON b.id = s.bed_id "
            "LEFT JOIN patients p ON p.id = s.patient_id "
            "WHERE ?1 IS NULL OR s.bed_id = ?1 ORDER BY s.started_at, s.id", (bed_id,)).fetchall()
        return [Session(*row) for row in rows]

    def samples(self, session_id: int, start: float = -math.inf, end: float = math.inf) -> Samples:
        """Samples of a session with start <= t <= end."""
        rows = self._db.execute(
            "SELECT t, score, status FROM samples WHERE session_id=? AND t BETWEEN ? AND ? ORDER BY t",
            (session_id, start, end)).fetchall()
        t = np.array([r[0] for r in rows], dtype=np.float64)
        score = np.array([math.nan if r[1] is None else r[1] for r in rows], dtype=np.float64)
        status = np.array([r[2] for r in rows], dtype=str)
        return Samples(t, score, status)

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

    def annotations(self, session_id: int, start: float = -math.inf, end: float = math.inf
                    ) -> list[Annotation]:
        """Event markers of a session with start <= t <= end."""
        rows = self._db.execute(
            "SELECT id, t, kind, text FROM annotations WHERE session_id=? AND t BETWEEN ? AND ? "
            "ORDER BY t, id",
            (session_id, start, end)).fetchall()
        return [Annotation(i, t, AnnotationKind(kind), text) for i, t, kind, text in rows]
