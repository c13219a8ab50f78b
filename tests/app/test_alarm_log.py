"""The Alarm log tab over a real monitor and a real SQLite record (pytest-qt, offscreen): the history of every
session read back after a restart, its filters, the bound on rows shown, live events on top, and the CSV
export."""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from app.alarm_log_view import MAX_ROWS, AlarmLogView
from app.alarms import AlarmConfig, AlarmEvent, AlarmKind, BedAlarms
from app.beds import BedConfig, Source, save_beds
from app.export import ExportError
from app.monitor import Monitor
from app.record_writer import RecordWriter
from app.settings import MonitorSettings, save_settings
from engine.files import PRIVATE_MODE
from tests.helpers import show

BED_1, BED_2 = "0123456789ab", "0123456789ac"
HOUR = 3600.0
LogView = Callable[..., AlarmLogView]


@pytest.fixture(autouse=True)
def no_model(tmp_path: Path) -> None:
    """Settings naming a model file that is not there: the monitor starts at once and scores nothing."""
    save_settings(MonitorSettings(model_path=str(tmp_path / "none.safetensors"), audible=False))


@pytest.fixture
def open_log(qtbot, tmp_path: Path) -> Iterator[LogView]:
    """Starts a monitor on the record `tmp_path/record.sqlite` (with `beds` as the ward, each privacy-paused
    so that no source raises alarms of its own) and shows its Alarm log tab; closes the monitors after."""
    monitors: list[Monitor] = []

    def open_(beds: list[BedConfig]) -> AlarmLogView:
        save_beds(beds)
        monitor = Monitor(record_file=tmp_path / "record.sqlite", retry_s=0.5, fallback_model=None)
        monitors.append(monitor)
        for runtime in monitor.beds:
            monitor.set_paused(runtime.bed_id, True)
        return show(qtbot, AlarmLogView(monitor), 1100, 500)

    yield open_
    for monitor in monitors:
        monitor.close()


def pain_episode(alarms: BedAlarms, start: float) -> list[AlarmEvent]:
    """Pain for 3 s (raised after the 2 s delay), gone (latched), then acknowledged (and cleared)."""
    events = [e for i in range(7) for e in alarms.update(start + i * 0.5, 4.0)]
    events += alarms.update(start + 6.0, 1.0)
    return events + alarms.acknowledge(start + 8.0)


def write_history(path: Path, now: float) -> dict[str, float]:
    """An earlier run's record: Bed 1 in pain 30 days ago and without a face 5 h ago, Bed 2's camera lost
    3 days ago, its audio paused and pain 30 minutes ago; four sessions. The times each began, by name."""
    at = {"pain 1": now - 30 * 86_400, "no face": now - 5 * HOUR, "camera": now - 3 * 86_400,
          "pain 2": now - 0.5 * HOUR}
    first = BedAlarms(AlarmConfig(delay_s=2.0, no_face_delay_s=3.0), bed="Bed 1")
    second = BedAlarms(AlarmConfig(delay_s=2.0), bed="Bed 2")
    with RecordWriter(path) as writer:
        def session(bed_id: str, name: str, start: float, events: list[AlarmEvent]) -> None:
            number = writer.start_session(bed_id, name, source="camera 0", started_at=start)
            for event in events:
                writer.add_alarm_event(number, event)
            writer.end_session(number, start + 60)

        session(BED_1, "Bed 1", at["pain 1"], pain_episode(first, at["pain 1"]))
        session(BED_1, "Bed 1", at["no face"], [e for i in range(8) for e in first.update(at["no face"] + i,
                                                                                           math.nan)])
        session(BED_2, "Bed 2", at["camera"], [
            *second.set_technical(at["camera"], AlarmKind.CAMERA_LOST, True),
            *second.set_technical(at["camera"] + 10, AlarmKind.CAMERA_LOST, False)])
        paused = second.pause_audio(at["pain 2"])
        session(BED_2, "Bed 2", at["pain 2"], paused + pain_episode(second, at["pain 2"]))
    return at


def choose(combo, text: str) -> None:
    """Pick a filter the way a nurse does: by its text."""
    index = combo.findText(text)
    assert index >= 0, f"{text!r} not offered"
    combo.setCurrentIndex(index)


def cells(view: AlarmLogView, *columns: int) -> list[tuple[str, ...]]:
    """Some columns of the table, top row first."""
    return [tuple(row[c] for c in columns) for row in view.rows()]


BED_2_PAIN = [("Bed 2", "pain", "medium", "cleared"), ("Bed 2", "pain", "medium", "acknowledged"),
              ("Bed 2", "pain", "medium", "latched"), ("Bed 2", "pain", "medium", "raised"),
              ("Bed 2", "audio signal", "", "audio paused")]
BED_1_NO_FACE = [("Bed 1", "no face", "low", "raised")]
BED_2_CAMERA = [("Bed 2", "camera lost", "low", "cleared"), ("Bed 2", "camera lost", "low", "raised")]
BED_1_PAIN = [("Bed 1", "pain", "medium", t) for t in ("cleared", "acknowledged", "latched", "raised")]


def test_a_restart_keeps_the_alarm_history_of_every_session(open_log: LogView, tmp_path: Path) -> None:
    write_history(tmp_path / "record.sqlite", time.time())
    ward = [BedConfig("Bed 1", Source.simulated(1), bed_id=BED_1)]
    first = open_log(ward)
    choose(first.range_filter, "All time")
    assert cells(first, 1, 2, 3, 4) == BED_2_PAIN + BED_1_NO_FACE + BED_2_CAMERA + BED_1_PAIN
    first.monitor.pause_audio()  # a new event of this run
    paused_at = first.monitor.alarm_log[-1].event.t
    assert cells(first, 1, 2, 3, 4)[0] == ("Bed 1", "audio signal", "", "audio paused")
    first.monitor.close()  # the app closes; the record is all that is left of it

    second = open_log(ward)
    assert list(second.monitor.alarm_log) == []
    assert second.range_filter.currentText() == "Last 24 hours"
    rows = second.rows()
    assert [row[1:5] for row in rows] == [("Bed 1", "audio signal", "", "audio paused"), *BED_2_PAIN,
                                          *BED_1_NO_FACE]
    assert rows[0][0] == datetime.fromtimestamp(paused_at).strftime("%Y-%m-%d %H:%M:%S")
    assert rows[0][5] == "Audio paused for 120 s" and rows[-1][5] == "No face for 3 s"
    choose(second.range_filter, "All time")
    assert cells(second, 1, 2, 3, 4)[1:] == BED_2_PAIN + BED_1_NO_FACE + BED_2_CAMERA + BED_1_PAIN
    assert second.note.text() == "13 alarm events"


def test_the_bed_priority_and_time_filters_each_change_the_rows_shown(open_log: LogView,
                                                                       tmp_path: Path) -> None:
    write_history(tmp_path / "record.sqlite", time.time())
    view = open_log([])  # both beds have left the ward: their history stays
    beds = [view.bed_filter.itemText(i) for i in range(view.bed_filter.count())]
    assert beds == ["All beds", "Bed 1", "Bed 2"]
    assert cells(view, 1, 2, 3, 4) == BED_2_PAIN + BED_1_NO_FACE  # the last 24 hours
    expected = {"Last hour": BED_2_PAIN, "Last 8 hours": BED_2_PAIN + BED_1_NO_FACE,
                "Last 7 days": BED_2_PAIN + BED_1_NO_FACE + BED_2_CAMERA,
                "All time": BED_2_PAIN + BED_1_NO_FACE + BED_2_CAMERA + BED_1_PAIN}
    for span, rows in expected.items():
        choose(view.range_filter, span)
        assert cells(view, 1, 2, 3, 4) == rows, span
    choose(view.bed_filter, "Bed 1")
    assert cells(view, 1, 2, 3, 4) == BED_1_NO_FACE + BED_1_PAIN
    choose(view.priority_filter, "Medium and above")
    assert cells(view, 1, 2, 3, 4) == BED_1_PAIN
    choose(view.bed_filter, "All beds")
    assert cells(view, 1, 2, 3, 4) == BED_2_PAIN[:4] + BED_1_PAIN
    choose(view.priority_filter, "Low and above")  # audio pauses have no priority
    assert cells(view, 1, 2, 3, 4) == BED_2_PAIN[:4] + BED_1_NO_FACE + BED_2_CAMERA + BED_1_PAIN
    choose(view.priority_filter, "High")
    assert view.rows() == [] and view.note.text() == "0 alarm events"


def test_the_csv_export_has_every_filtered_row_readable_by_its_owner_only(open_log: LogView,
                                                                         tmp_path: Path) -> None:
    at = write_history(tmp_path / "record.sqlite", time.time())
    view = open_log([])
    choose(view.range_filter, "All time")
    choose(view.bed_filter, "Bed 2")
    target = tmp_path / "alarms.csv"
    target.write_text("an older export")
    target.chmod(0o644)
    assert view.export_csv(target) == target
    assert target.stat().st_mode & 0o777 == PRIVATE_MODE
    assert view.export_note.text() == f"7 alarm events saved to {target}"
    with target.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    assert header == ["time", "bed", "alarm", "priority", "event", "message"]
    assert [tuple(row[1:5]) for row in rows] == BED_2_PAIN + BED_2_CAMERA
    times = [datetime.fromisoformat(row[0]) for row in rows]
    assert all(t.utcoffset() == datetime.fromtimestamp(t.timestamp()).astimezone().utcoffset() for t in times)
    assert times[4].timestamp() == pytest.approx(at["pain 2"], abs=1e-3)  # the audio pause
    assert times[-1].timestamp() == pytest.approx(at["camera"], abs=1e-3)
    assert rows[4][5] == "Audio paused for 120 s" and rows[-1][5] == "Camera lost"
    assert not list(tmp_path.glob(".alarms.csv.*"))  # no scratch file left behind
    with pytest.raises(ExportError, match="does not exist"):
        view.export_csv(tmp_path / "missing" / "alarms.csv")


def test_at_most_max_rows_are_shown_and_the_rest_is_said_and_exported(open_log: LogView,
                                                                      tmp_path: Path) -> None:
    alarms, start = BedAlarms(AlarmConfig(), bed="Bed 1"), time.time() - 16 * HOUR - 30
    with RecordWriter(tmp_path / "record.sqlite") as writer:
        session = writer.start_session(BED_1, "Bed 1", source="camera 0", started_at=start)
        for i in range(MAX_ROWS + 5):  # one a minute: the last 104 in the last hour (30 s to spare)
            for event in alarms.pause_audio(start + 60 * i):
                writer.add_alarm_event(session, event)
    view = open_log([])
    assert len(view.rows()) == MAX_ROWS
    assert view.note.text().startswith(f"The newest {MAX_ROWS} alarm events are shown; older ones are left")
    newest = datetime.fromtimestamp(start + 60 * (MAX_ROWS + 4)).strftime("%Y-%m-%d %H:%M:%S")
    assert view.rows()[0][0] == newest  # the newest are the ones kept
    view.export_csv(tmp_path / "all.csv")
    assert len((tmp_path / "all.csv").read_text(encoding="utf-8").splitlines()) == 1 + MAX_ROWS + 5
    choose(view.range_filter, "Last hour")  # the last hour holds fewer than MAX_ROWS
    assert len(view.rows()) == 104 and view.note.text() == "104 alarm events"


def test_live_events_appear_on_top_once_and_only_when_the_filters_let_them_through(
        qtbot, open_log: LogView, tmp_path: Path) -> None:
    write_history(tmp_path / "record.sqlite", time.time())
    ward = [BedConfig("Bed 1", Source.simulated(1), bed_id=BED_1),
            BedConfig("Bed 3", Source.simulated(3), bed_id="0123456789ad")]
    view = open_log(ward)
    assert [view.bed_filter.itemText(i) for i in range(view.bed_filter.count())] == [
        "All beds", "Bed 1", "Bed 2", "Bed 3"]
    before = view.rows()
    view.monitor.pause_audio()  # one event per bed of the ward, in ward order
    assert cells(view, 1, 4) == [("Bed 3", "audio paused"), ("Bed 1", "audio paused")] + [
        (row[1], row[4]) for row in before]
    view.monitor.record.flush()  # now in the record and in the live log: shown once
    view.refresh()
    assert cells(view, 1, 4)[:3] == [("Bed 3", "audio paused"), ("Bed 1", "audio paused"),
                                     ("Bed 2", "cleared")]
    choose(view.bed_filter, "Bed 3")
    assert cells(view, 1, 4) == [("Bed 3", "audio paused")]
    view.monitor.pause_audio()  # while paused: the sound comes back
    assert cells(view, 1, 4) == [("Bed 3", "audio resumed"), ("Bed 3", "audio paused")]  # not Bed 1's
    choose(view.priority_filter, "Low and above")
    view.monitor.pause_audio()
    assert view.rows() == []


def test_a_record_that_cannot_be_read_leaves_this_runs_alarms_and_says_so(open_log: LogView,
                                                                          tmp_path: Path) -> None:
    view = open_log([BedConfig("Bed 1", Source.simulated(1), bed_id=BED_1)])
    view.monitor.pause_audio()
    view.record_path = tmp_path / "gone.sqlite"  # the record went away under the running monitor
    view.refresh()
    assert cells(view, 1, 4) == [("Bed 1", "audio paused")]
    assert view.note.text() == (f"1 alarm event — the record cannot be read (no painmon record at "
                                f"{view.record_path}): only this run's alarms are shown.")
    with pytest.raises(ExportError, match=r"the record cannot be read .*: nothing exported"):
        view.export_csv(tmp_path / "alarms.csv")
    assert not (tmp_path / "alarms.csv").exists()
