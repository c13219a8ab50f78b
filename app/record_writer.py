"""Writing the SQLite record (`app.record` has its schema and reader): `RecordWriter` queues writes from any
thread and commits them in one transaction at least every `flush_interval_s` (default 0.25 s) on its own
thread and connection. The database is in WAL mode with synchronous=FULL, so a crash or power loss loses at
most the last fraction of a second and never corrupts the file.

One bad value never stops the record: every write's values are checked on the writer's thread, and a write
the record cannot take is undone alone (its own savepoint) and reported, naming its bed, while every other
write is committed.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.alarms import AlarmEvent, AlarmKind, Transition
from app.data_folder import set_aside
from app.record import AnnotationKind, RecordError, check_record, connect, record_path
from engine.status import FrameStatus

MAX_TEXT_LENGTH = 10_000
"""Longest text the record takes (a note, a message, a label); a longer one is refused."""
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL and lone surrogates: stored as U+FFFD
_ROW_ERRORS = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.ProgrammingError)


@dataclass(frozen=True)
class RowFailure:
    """A write the record refused because of its own values (the other writes were kept): which bed it
    was for (None when its session is unknown) and why, in one line."""

    bed_id: str | None
    message: str


class _Item:
    """One queued write: what it is (for failure reports), its session or bed, and the write itself (None
    for a flush). `future` is set when the caller waits for the commit."""

    def __init__(self, what: str, run: Callable[[sqlite3.Connection], object] | None, *,
                 session: object = None, bed_id: object = None, wait: bool = False) -> None:
        self.what = what
        self.run = run
        self.session = session
        self.bed_id = bed_id
        self.future: Future[Any] | None = Future() if wait else None


_STOP = object()


class RecordWriter:
    """Queues writes from any thread and commits them on its own thread, batched, at least once a second.

    Methods return at once except `start_session`, `admit` and `flush`, which wait for their commit. Values
    are checked on the writer's thread: a write with values the record cannot take (a NaN time, a wrong type,
    over-long text) is refused on its own and reported by `take_failures`, naming its bed, while every other
    write is kept; NUL characters and lone surrogates in text are stored as U+FFFD. If a commit fails (disk
    full, or another program holds the write lock for over `lock_timeout_s`), the writes are kept and
    retried every interval and `error` says what is wrong. Call `close()` when done (or use `with`): it
    commits what is queued.
    """

    def __init__(self, path: Path | None = None, flush_interval_s: float = 0.25,
                 lock_timeout_s: float = 1.0) -> None:
        if not 0.0 < flush_interval_s <= 1.0:
            raise ValueError(f"flush interval must be in (0, 1] s, got {flush_interval_s}")
        self.path = path or record_path()
        self.flush_interval_s = flush_interval_s
        self.lock_timeout_s = lock_timeout_s
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._failures: queue.SimpleQueue[RowFailure] = queue.SimpleQueue()
        self._session_beds: dict[int, str] = {}  # sessions opened here (writer thread only)
        self._error: str | None = None
        opened: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, args=(opened,), name="record-writer", daemon=True)
        self._thread.start()
        opened.result()  # raises RecordError here if the database cannot be opened

    @property
    def error(self) -> str | None:
        """Why the last commit failed, or None when writing works."""
        return self._error

    def take_failures(self) -> list[RowFailure]:
        """The writes refused since the last call (any thread)."""
        failures = []
        with contextlib.suppress(queue.Empty):
            while True:
                failures.append(self._failures.get_nowait())
        return failures

    def start_session(self, bed_id: str, bed_name: str, *, source: str, started_at: float, patient: str = "",
                      model: str = "", stay_id: int | None = None, alarm_limit: float | None = None) -> int:
        """Open a session for a bed (upserting bed and patient), part of stay `stay_id` if given, with the
        bed's pain alarm limit, and return its id once committed; RecordError when it cannot be (the values
        are refused, or the record cannot be written)."""

        def insert(db: sqlite3.Connection) -> int:
            session = _insert_session(
                db, bed_id=_text(bed_id, "bed id"), bed_name=_text(bed_name, "bed name"),
                patient=_text(patient, "patient"), source=_text(source, "source"),
                model=_text(model, "model"), started_at=_time(started_at),
                stay_id=None if stay_id is None else _id(stay_id, "stay id"),
                alarm_limit=None if alarm_limit is None else _score(alarm_limit))
            self._session_beds[session] = bed_id
            return session

        return int(self._submit(_Item("session", insert, bed_id=bed_id, wait=True)))

    def admit(self, bed_id: str, bed_name: str, *, patient: str, admitted_at: float) -> int:
        """Open a stay: a patient (the label may be empty) admitted to a bed; its id once committed
        (RecordError when it cannot be)."""

        def insert(db: sqlite3.Connection) -> int:
            _upsert_bed(db, _text(bed_id, "bed id"), _text(bed_name, "bed name"))
            cursor = db.execute("INSERT INTO stays(bed_id, patient, admitted_at) VALUES (?, ?, ?)",
                                (bed_id, _text(patient, "patient"), _time(admitted_at)))
            return int(cursor.lastrowid or 0)

        return int(self._submit(_Item("admission", insert, bed_id=bed_id, wait=True)))

    def discharge(self, stay_id: int, discharged_at: float) -> None:
        """Queue the end of a stay."""
        self._put_sql("discharge", None, "UPDATE stays SET discharged_at=? WHERE id=?",
                      lambda: (_time(discharged_at), _id(stay_id, "stay id")))

    def add_sample(self, session_id: int, t: float, score: float, status: FrameStatus, *,
                   quality: float = math.nan, detail: str = "") -> None:
        """Queue one frame's result: a NaN (or infinite) score or quality is stored as NULL; `detail` says
        more about the status (why the quality was too low, the model's error)."""
        self._put_sql("sample", session_id,
                      "INSERT INTO samples(session_id, t, score, status, quality, detail) "
                      "VALUES (?, ?, ?, ?, ?, ?)",
                      lambda: (_id(session_id), _time(t), _score(score), str(FrameStatus(status)),
                               _score(quality), _text(detail, "detail")))

    def add_alarm_event(self, session_id: int, event: AlarmEvent) -> None:
        """Queue an alarm transition: the episode row is created or updated and the log gets an entry."""
        self._put(_Item("alarm event", lambda db: _apply_alarm_event(db, _id(session_id), event),
                        session=session_id))

    def add_annotation(self, session_id: int, t: float, kind: AnnotationKind, text: str = "") -> None:
        """Queue an event marker; a free-text note must have text (ValueError here)."""
        kind = AnnotationKind(kind)
        if kind is AnnotationKind.NOTE and isinstance(text, str) and not text.strip():
            raise ValueError("a note needs text")
        self._put_sql("annotation", session_id,
                      "INSERT INTO annotations(session_id, t, kind, text) VALUES (?, ?, ?, ?)",
                      lambda: (_id(session_id), _time(t), str(kind), _text(text, "text")))

    def end_session(self, session_id: int, ended_at: float) -> None:
        """Queue the end of a session; its alarms still on end with it."""
        self._put(_Item("session end", lambda db: _end_session(db, _id(session_id), _time(ended_at)),
                        session=session_id))

    def end_interrupted_sessions(self) -> list[str]:
        """End the sessions a crash or a kill left open, at their last sample (else their start), with their
        alarms still on; the names of their beds, once committed (call it at start, before any session)."""

        def end(db: sqlite3.Connection) -> list[str]:
            rows = db.execute(
                "SELECT s.id, b.name, COALESCE((SELECT MAX(t) FROM samples WHERE session_id = s.id), "
                "s.started_at) FROM sessions s JOIN beds b ON b.id = s.bed_id WHERE s.ended_at IS NULL "
                "ORDER BY s.id").fetchall()
            for session, _, ended_at in rows:
                _end_session(db, session, ended_at)
            return [str(name) for _, name, _ in rows]

        return list(self._submit(_Item("end of interrupted sessions", end, wait=True)))

    def delete_sessions_before(self, cutoff: float, keep: Collection[int] = ()) -> None:
        """Queue the deletion of the sessions whose last moment (their end, else their last sample, else their
        start) is before `cutoff` (Unix time), except those in `keep`: with their samples, alarms and
        annotations, the patients no session names any more, and the stays discharged before `cutoff` that
        have no session left. What is deleted is overwritten in the file,
        not left in free pages."""
        kept = set(keep)
        self._put(_Item("deletion", lambda db: _delete_sessions_before(db, _time(cutoff), kept)))

    def flush(self, timeout: float | None = 10.0) -> None:
        """Wait until everything queued so far is committed."""
        self._submit(_Item("flush", None, wait=True), timeout)

    def close(self) -> None:
        """Commit what is queued and stop the writer thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _put(self, item: _Item) -> None:
        if not self._thread.is_alive():
            raise RecordError(f"the record writer for {self.path} is closed")
        self._queue.put(item)

    def _submit(self, item: _Item, timeout: float | None = 10.0) -> Any:
        """Queue a write, wait for its commit and return its result."""
        assert item.future is not None
        self._put(item)
        try:
            return item.future.result(timeout)
        except TimeoutError:
            raise RecordError(f"the record {self.path} did not answer in {timeout:g} s") from None

    def _put_sql(self, what: str, session_id: object, sql: str, parameters: Callable[[], tuple[object, ...]]
                 ) -> None:
        """Queue one statement; its parameters are made (and checked) on the writer's thread."""
        self._put(_Item(what, lambda db: db.execute(sql, parameters()), session=session_id))

    def _run(self, opened: Future[None]) -> None:
        try:
            db = connect(self.path, create=True, lock_timeout_s=self.lock_timeout_s)
        except RecordError as exc:
            opened.set_exception(exc)
            return
        except Exception as exc:  # the opener waits on `opened`: it must always hear back
            opened.set_exception(RecordError(f"cannot open record {self.path}: {_one_line(exc)}"))
            return
        db.isolation_level = None  # transactions are explicit (`_transaction`)
        db.execute("PRAGMA foreign_keys=ON")  # a row for a session that does not exist is refused
        db.execute("PRAGMA secure_delete=ON")  # deleted patient data is overwritten, not left in free pages
        opened.set_result(None)
        pending: list[_Item] = []
        deadline = time.monotonic() + self.flush_interval_s
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                item = None
            if item is _STOP:
                self._commit(db, pending)  # last try; on failure `error` says what was lost
                break
            if isinstance(item, _Item):
                pending.append(item)
            due = time.monotonic() >= deadline
            waiting = isinstance(item, _Item) and item.future is not None
            if pending and (due or waiting) and not self._commit(db, pending):
                time.sleep(self.flush_interval_s)  # the disk failed: retry after a pause
            if due:
                deadline = time.monotonic() + self.flush_interval_s
        db.close()

    def _commit(self, db: sqlite3.Connection, pending: list[_Item]) -> bool:
        """Commit every pending write in one transaction. Writes refused for their own values are dropped and
        reported; when the database fails, the plain writes are kept for the next try and waiting callers
        get the error."""
        try:
            try:
                done, refused = _transaction(db, pending, isolate=False)
            except Exception as exc:
                if not _refused(exc):
                    raise
                done, refused = _transaction(db, pending, isolate=True)  # find the bad writes
        except Exception as exc:  # the database or the disk failed: every write is kept
            self._error = f"cannot write the record {self.path}: {_one_line(exc)}"
            for item in pending:
                if item.future is not None:
                    item.future.set_exception(RecordError(self._error))
            pending[:] = [item for item in pending if item.future is None]
            return False
        self._error = None
        pending.clear()
        for item, why in refused:
            failure = RowFailure(self._bed_of(item), f"{item.what} not recorded: {_one_line(why)}")
            self._failures.put(failure)
            if item.future is not None:
                item.future.set_exception(RecordError(failure.message))
        for item, result in done:
            if item.future is not None:
                item.future.set_result(result)
        return True

    def _bed_of(self, item: _Item) -> str | None:
        """The bed a write was for, if known."""
        if isinstance(item.bed_id, str):
            return item.bed_id
        return self._session_beds.get(item.session) if isinstance(item.session, int) else None


def open_record(path: Path | None = None) -> tuple[RecordWriter, str | None]:
    """The monitor's record writer, never writing into a damaged file: a record that fails its check at
    start, or cannot be opened as a painmon record, is set aside and a new one started. The second value
    says so, for a banner (None when the record was fine). RecordError if even a new one cannot be opened."""
    path = path or record_path()
    problem = check_record(path)
    if problem is None:
        try:
            return RecordWriter(path), None
        except RecordError as exc:
            problem = str(exc)
    try:
        aside = set_aside(path)
    except OSError as exc:
        raise RecordError(f"{problem}; it cannot be set aside: {exc}") from exc
    return RecordWriter(path), (f"The record could not be used — {problem}. It was kept as {aside.name}; "
                                "a new record was started.")


def _end_session(db: sqlite3.Connection, session: int, ended_at: float) -> None:
    """End a session, and the alarms of it that are still on (monitoring ended them)."""
    db.execute("UPDATE sessions SET ended_at=? WHERE id=?", (ended_at, session))
    db.execute("UPDATE alarms SET cleared_at=? WHERE session_id=? AND cleared_at IS NULL",
               (ended_at, session))


def _transaction(db: sqlite3.Connection, items: list[_Item], *, isolate: bool
                 ) -> tuple[list[tuple[_Item, object]], list[tuple[_Item, Exception]]]:
    """Run the writes in one transaction and commit it: (each write done with its result, each write refused
    with why). With `isolate`, each write runs in its own savepoint and one refused for its values is undone
    alone; without, the first error of any kind rolls everything back and is raised."""
    done: list[tuple[_Item, object]] = []
    refused: list[tuple[_Item, Exception]] = []
    db.execute("BEGIN")
    try:
        for item in items:
            if isolate:
                db.execute("SAVEPOINT item")
            try:
                done.append((item, item.run(db) if item.run else None))
            except Exception as exc:
                if not (isolate and _refused(exc)):
                    raise
                db.execute("ROLLBACK TO item")
                refused.append((item, exc))
            if isolate:
                db.execute("RELEASE item")
        db.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
    return done, refused


def _refused(exc: Exception) -> bool:
    """True when a write failed on its own values (a wrong type, bad text, a constraint), False when the
    database itself failed (locked, disk full, damaged)."""
    return not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, _ROW_ERRORS)


def _upsert_bed(db: sqlite3.Connection, bed_id: str, bed_name: str) -> None:
    db.execute("INSERT INTO beds(id, name) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET name=excluded.name",
               (bed_id, bed_name))


def _insert_session(db: sqlite3.Connection, *, bed_id: str, bed_name: str, patient: str, source: str,
                    model: str, started_at: float, stay_id: int | None, alarm_limit: float | None) -> int:
    _upsert_bed(db, bed_id, bed_name)
    patient_id = None
    if patient:
        db.execute("INSERT OR IGNORE INTO patients(label) VALUES (?)", (patient,))
        patient_id = db.execute("SELECT id FROM patients WHERE label=?", (patient,)).fetchone()[0]
    cursor = db.execute(
        "INSERT INTO sessions(bed_id, patient_id, source, model, started_at, stay_id, alarm_limit) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (bed_id, patient_id, source, model, started_at, stay_id, alarm_limit))
    return int(cursor.lastrowid or 0)


def _delete_sessions_before(db: sqlite3.Connection, cutoff: float, keep: set[int]) -> None:
    rows = db.execute("SELECT id FROM sessions WHERE coalesce(ended_at, (SELECT max(t) FROM samples "
                      "WHERE session_id = sessions.id), started_at) < ?", (cutoff,)).fetchall()
    old = [(session,) for (session,) in rows if session not in keep]
    for table in ("samples", "alarm_events", "alarms", "annotations"):  # alarm_events refer to alarms
        db.executemany(f"DELETE FROM {table} WHERE session_id = ?", old)
    db.executemany("DELETE FROM sessions WHERE id = ?", old)
    db.execute("DELETE FROM patients WHERE id NOT IN (SELECT patient_id FROM sessions "
               "WHERE patient_id IS NOT NULL)")
    db.execute("DELETE FROM stays WHERE discharged_at < ? AND id NOT IN (SELECT stay_id FROM sessions "
               "WHERE stay_id IS NOT NULL)", (cutoff,))


def _apply_alarm_event(db: sqlite3.Connection, session_id: int, event: AlarmEvent) -> None:
    t, uid, message = _time(event.t), event.uid, _text(event.message, "alarm message")
    transition = Transition(event.transition)
    if uid is not None:
        uid = _text(uid, "alarm uid")
    if transition is Transition.RAISED:
        db.execute("INSERT INTO alarms(uid, session_id, kind, priority, message, raised_at) "
                   "VALUES (?, ?, ?, ?, ?, ?)",
                   (uid, session_id, str(AlarmKind(str(event.kind))), int(event.priority), message, t))
    elif transition is Transition.ACKNOWLEDGED:
        db.execute("UPDATE alarms SET acknowledged_at=coalesce(acknowledged_at, ?) WHERE uid=?", (t, uid))
    elif transition is Transition.CLEARED:
        db.execute("UPDATE alarms SET cleared_at=? WHERE uid=?", (t, uid))
    db.execute("INSERT INTO alarm_events(session_id, t, transition, alarm_uid, message) VALUES (?,?,?,?,?)",
               (session_id, t, str(transition), uid, message))


def _time(t: object) -> float:
    """A finite time in seconds (any real number but a bool); ValueError / TypeError otherwise."""
    if not isinstance(t, numbers.Real) or isinstance(t, bool):
        raise TypeError(f"time must be a number, got {type(t).__name__}")
    if not math.isfinite(t):
        raise ValueError(f"time must be finite, got {t}")
    return float(t)


def _score(score: object) -> float | None:
    """A score as stored: a real number, None (NULL) for NaN or infinity."""
    if not isinstance(score, numbers.Real) or isinstance(score, bool):
        raise TypeError(f"score must be a number, got {type(score).__name__}")
    return float(score) if math.isfinite(score) else None


def _id(value: object, name: str = "session id") -> int:
    """A row id: an integer (not a bool)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    return int(value)


def _text(value: object, name: str) -> str:
    """Text as stored: a str of at most MAX_TEXT_LENGTH characters, NULs and lone surrogates as U+FFFD."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be text, got {type(value).__name__}")
    if len(value) > MAX_TEXT_LENGTH:
        raise ValueError(f"{name} is longer than {MAX_TEXT_LENGTH} characters ({len(value)})")
    return _UNSTORABLE.sub("\ufffd", value)


def _one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception as one short line for a report."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
