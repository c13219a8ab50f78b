"""Patient stays in the live monitor: a patient admitted to a bed until discharged. A stay outlives the app's
runs: at start a bed continues the open stay its record holds (every new record session joins it, as after a
model change), and its curve is filled with what the stay recorded before — samples of all its sessions with
a break between sessions, event markers and pain-alarm spans — so a nurse sees the patient's course. No Qt.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.alarms import AlarmKind
from app.record import RecordError, RecordReader, Samples, Stay
from app.series import ScoreSeries

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StayHistory:
    """What a stay recorded before now, as a bed's curve shows it: samples (a NaN break after each
    session), event markers (time, label) and pain-alarm spans (start, end)."""

    series: ScoreSeries
    markers: list[tuple[float, str]]
    pain_spans: list[tuple[float, float | None]]  # each with its end: None is a live alarm's


def with_session_breaks(samples: Samples) -> tuple[np.ndarray, np.ndarray]:
    """A stay's samples with a NaN sample after the last one of each session (at its time), so the curve
    breaks between sessions however short the pause between them was."""
    if not len(samples):
        return samples.t, samples.score
    ends = np.append(np.flatnonzero(np.diff(samples.session) != 0) + 1, len(samples))
    return np.insert(samples.t, ends, samples.t[ends - 1]), np.insert(samples.score, ends, np.nan)


def stay_history(reader: RecordReader, stay_id: int) -> StayHistory:
    """Read a stay's history for its bed's curve: its samples in one query, then its sessions' markers and
    pain alarms (an alarm never cleared, as when the app closed during it, ends with its session)."""
    samples = reader.stay_samples(stay_id)
    series = ScoreSeries(max(4096, 2 * len(samples)))
    series.extend(*with_session_breaks(samples))
    markers: list[tuple[float, str]] = []
    spans: list[tuple[float, float | None]] = []
    for session in reader.sessions(stay_id=stay_id):
        own = samples.t[samples.session == session.id]
        end = session.ended_at if session.ended_at is not None else float(own[-1]) if len(own) else (
            session.started_at)
        markers += [(a.t, a.label) for a in reader.annotations(session.id)]
        spans += [(a.raised_at, a.cleared_at if a.cleared_at is not None else end)
                  for a in reader.alarms(session.id) if a.kind is AlarmKind.PAIN]
    return StayHistory(series, sorted(markers), sorted(spans, key=lambda span: span[0]))


def open_stays(path: Path, bed_ids: Collection[str]) -> dict[str, tuple[Stay, StayHistory]]:
    """The open stay of each of these beds in the record at `path`, with its history; none when the record
    cannot be read (start-up never refuses: the beds are watched all the same)."""
    try:
        with RecordReader(path) as reader:
            return {stay.bed_id: (stay, stay_history(reader, stay.id))
                    for stay in reader.stays(open_only=True) if stay.bed_id in bed_ids}
    except (RecordError, sqlite3.Error) as exc:
        log.warning("the open stays of %s cannot be read: %s", path, exc)
        return {}
