"""Patient stays (pytest-qt, offscreen, real SQLite records): admitted in the bed view, continued across a
restart (the bed view's curve shows the samples from before it) and a model change, ended by Discharge; a
schema-3 record upgraded in place; a stay replayed and exported as one timeline, its PDF giving each
intervention's scores before and after."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog

from app.alarms import AlarmKind
from app.bed_runtime import BedRuntime
from app.beds import BedConfig, Source, load_beds
from app.export import session_record, stay_record, stay_title, write_pdf
from app.record import SCHEMA_VERSION, AnnotationKind, RecordReader
from app.record_writer import RecordWriter
from app.replay.view import ReplayView
from app.replay.widgets import STAY, SessionDialog
from app.settings import MonitorSettings, save_settings
from engine.paths import DEMO_MODEL
from tests.helpers import (
    BEFORE_STAYS,
    LIVE_TIMEOUT_MS,
    T0,
    answer_message_box,
    pdf_text,
    show,
    write_session,
    write_stay,
)


def scored(runtime: BedRuntime) -> int:
    """Samples of a bed with a score."""
    return int(np.isfinite(runtime.history.score).sum())


def no_model(tmp_path: Path) -> None:
    missing = tmp_path / "none.safetensors"
    save_settings(MonitorSettings(model_path=str(missing), backend="onnx", device="cpu"))


# -- the live monitor ---------------------------------------------------------------------------------------
def test_a_restart_continues_the_stay_and_the_bed_view_shows_the_samples_from_before(
        qtbot, open_window, model_file: Path) -> None:
    window = open_window(beds=[BedConfig("Bed 1", Source.simulated(1))])
    bed = window.monitor.beds[0]
    window.open_bed(bed.bed_id)
    window.bed_view.admit("P-0042")
    stay = bed.stay
    assert stay is not None and stay.patient == "P-0042" and load_beds()[0].patient == "P-0042"
    qtbot.waitUntil(lambda: scored(bed) >= 5, timeout=LIVE_TIMEOUT_MS)
    window.close_without_asking()
    with RecordReader() as reader:
        before = reader.stay_samples(stay.id)
    old_t = before.t[np.isfinite(before.score)]
    assert len(old_t) >= 5

    window = open_window()  # the same data folder: a restart
    bed = window.monitor.beds[0]
    assert bed.stay is not None and (bed.stay.id, bed.stay.patient) == (stay.id, "P-0042")
    window.open_bed(bed.bed_id)
    view = window.bed_view
    curve = view.curve.series
    assert np.isin(old_t, curve.t).all()  # the trend starts with the stay's samples from before the restart
    last = np.flatnonzero(curve.t == before.t[-1])
    assert len(last) == 2 and np.isnan(curve.score[last[1]])  # and breaks where the app was closed
    assert "P-0042" in view.stay_label.text() and view.discharge_button.isEnabled()
    qtbot.waitUntil(lambda: scored(bed) >= len(old_t) + 5, timeout=LIVE_TIMEOUT_MS)
    view.refresh()
    _, drawn = view.curve.curve.getData()
    assert np.isfinite(drawn).sum() >= len(old_t) + 5  # old and live samples on one curve
    view.grab().save("/tmp/stays_restart.png")
    window.close_without_asking()
    with RecordReader() as reader:
        sessions = reader.sessions()
        assert len(sessions) == 2 and {s.stay_id for s in sessions} == {stay.id}
        assert reader.stays(open_only=True) == [dataclasses.replace(stay, bed_name="Bed 1")]


def test_a_model_change_keeps_the_stay(qtbot, open_window, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    no_model(tmp_path)
    # a bed with a patient label and no stay yet (a new bed's, or from before stays) admits its patient
    window = open_window(beds=[BedConfig("Bed 1", Source.simulated(1), patient="P-7")], fallback_model=None)
    bed = window.monitor.beds[0]
    stay = bed.stay
    assert stay is not None and stay.patient == "P-7"
    qtbot.waitUntil(lambda: len(bed.history) >= 5, timeout=LIVE_TIMEOUT_MS)
    kept = len(bed.history)
    with qtbot.waitSignal(window.monitor.model_changed, timeout=LIVE_TIMEOUT_MS):
        settings = dataclasses.replace(window.monitor.settings, model_path=str(DEMO_MODEL))
        window.monitor.apply_settings(settings)
    qtbot.waitUntil(lambda: scored(bed) >= 3, timeout=LIVE_TIMEOUT_MS)
    assert bed.stay == stay and len(bed.history) > kept  # same stay, and the curve went on
    window.close_without_asking()
    with RecordReader() as reader:
        sessions = reader.sessions()
        assert [s.model for s in sessions] == ["", str(DEMO_MODEL)]
        assert {s.stay_id for s in sessions} == {stay.id} and reader.stays()[0].discharged_at is None


def test_discharge_ends_the_stay_and_the_next_admission_starts_a_new_one(
        qtbot, open_window, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_model(tmp_path)
    window = open_window(beds=[BedConfig("Bed 1", Source.simulated(1))], fallback_model=None)
    bed = window.monitor.beds[0]
    window.open_bed(bed.bed_id)
    view = window.bed_view
    assert bed.stay is None and not view.discharge_button.isEnabled()
    assert view.stay_label.text() == "no patient admitted"
    monkeypatch.setattr(QInputDialog, "getText", lambda *args, **kwargs: (" P-1\t", True))
    qtbot.mouseClick(view.admit_button, Qt.MouseButton.LeftButton)
    first = bed.stay
    assert first is not None and first.patient == "P-1" and view.discharge_button.isEnabled()
    qtbot.waitUntil(lambda: len(bed.history) >= 5, timeout=LIVE_TIMEOUT_MS)

    question = answer_message_box("Cancel")  # discharge asks first; Cancel keeps the stay
    qtbot.mouseClick(view.discharge_button, Qt.MouseButton.LeftButton)
    assert question[0] == "Discharge P-1 from Bed 1?" and "kept in the record" in question[1]
    assert bed.stay == first
    answer_message_box("Yes")
    qtbot.mouseClick(view.discharge_button, Qt.MouseButton.LeftButton)
    assert bed.stay is None and bed.config.patient == "" and load_beds()[0].patient == ""
    assert len(bed.history) < 5 and view.stay_label.text() == "no patient admitted"
    view.admit("P-2")
    assert bed.stay is not None and bed.stay.id != first.id
    qtbot.waitUntil(lambda: len(bed.history) >= 3, timeout=LIVE_TIMEOUT_MS)
    window.close_without_asking()
    with RecordReader() as reader:
        stays = reader.stays()
        assert [(s.patient, s.discharged_at is None) for s in stays] == [("P-1", False), ("P-2", True)]
        assert all(reader.sessions(stay_id=s.id) for s in stays)


# -- the record, replay and the PDF -----------------------------------------------------------------------
def test_a_schema_3_record_is_upgraded_in_place_and_still_replays(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "record.sqlite"
    session = write_session(path)
    with sqlite3.connect(path) as db:  # what painmon wrote before stays
        db.executescript(BEFORE_STAYS + "PRAGMA user_version=3;")
    db.close()
    with RecordReader(path) as reader:
        assert reader.stays() == [] and reader.sessions()[0].stay_id is None
        assert reader.sessions()[0].alarm_limit is None  # not recorded then: replay uses the default
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    db.close()
    view = show(qtbot, ReplayView(record_path=path), 1000, 800)
    with qtbot.waitSignal(view.loaded, timeout=5000):
        view.open_session(session)
    assert view.record is not None and len(view.record.table) == 480 and view.record.stay is None
    with RecordWriter(path) as writer:  # and takes stays from now on
        stay = writer.admit("bed-3", "Bed 3", patient="P-9", admitted_at=T0 + 300)
        writer.start_session("bed-3", "Bed 3", source="camera 0", started_at=T0 + 301, stay_id=stay)
    with RecordReader(path) as reader:
        assert [s.stay_id for s in reader.sessions()] == [None, stay]


def test_stay_record_gathers_every_session_of_the_stay_in_time_order(tmp_path: Path) -> None:
    path = tmp_path / "record.sqlite"
    stay, sessions = write_stay(path)
    with RecordReader(path) as reader:
        record = stay_record(reader, stay, threshold=3.5)
        samples = reader.stay_samples(stay)
        single = session_record(reader, sessions[1])
    assert len(record.table) == 750 + 1500 and np.all(np.diff(record.table.t) > 0)
    assert record.table.t[0] == T0 and record.table.t[-1] == T0 + 4798  # not the session before admission
    assert sorted(set(samples.session.tolist())) == sessions
    assert record.period == (T0, T0 + 5000) and record.stay is not None and record.stay.id == stay
    assert (record.patient, record.bed, record.bed_id) == ("P-0042", "Bed 3", "bed-3")
    assert [a.kind for a in record.alarms] == [AlarmKind.PAIN] and record.alarms[0].raised_at == T0 + 10
    assert [(a.t - T0, a.kind) for a in record.annotations] == [(1200, AnnotationKind.ANALGESIC),
                                                                (3000, AnnotationKind.NOTE)]
    assert "P-0042 — Bed 3, stay 1:" in record.title and record.title.endswith("→ " + stay_title(
        record.stay).split("→ ")[1])
    assert len(single.table) == 1500 and [a.kind for a in single.annotations] == [AnnotationKind.NOTE]


def test_the_pdf_of_a_stay_names_it_and_gives_the_intervention_scores_before_and_after(
        tmp_path: Path, qapp) -> None:
    path = tmp_path / "record.sqlite"
    stay, _ = write_stay(path)
    with RecordReader(path) as reader:
        record = stay_record(reader, stay, threshold=3.5)
    text = pdf_text(write_pdf(record, tmp_path / "stay.pdf"))[1]
    assert record.stay is not None
    for expected in ("Pain course of a stay", stay_title(record.stay), "Patient P-0042", "Bed Bed 3",
                     "Score 15 min before", "Score 30–60 min after",
                     "Analgesic given morphine 2 mg 4.00 1.50",  # the pain before it, and once it acted
                     "Note asleep", "Frames 2,250"):
        assert expected in text, expected
    assert text.index("Analgesic given") < text.index("Note asleep")


def test_replay_lists_stays_and_opens_one_on_a_single_timeline(qtbot, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "record.sqlite"
    stay, _ = write_stay(path)
    listed: list[str] = []

    def pick_the_stay(dialog: SessionDialog) -> bool:
        items = [dialog.list.item(row) for row in range(dialog.list.count())]
        listed.extend(item.text() for item in items)
        dialog.list.setCurrentItem(next(i for i in items if i.data(Qt.ItemDataRole.UserRole) == (STAY, stay)))
        return True

    monkeypatch.setattr(SessionDialog, "exec", pick_the_stay)
    view = show(qtbot, ReplayView(record_path=path), 1000, 800)
    with qtbot.waitSignal(view.loaded, timeout=5000):
        qtbot.mouseClick(view.open_session_button, Qt.MouseButton.LeftButton)
    assert listed[0] == "Stays" and listed[2] == "Sessions" and len(listed) == 2 + 1 + 3
    assert listed[1].startswith("  P-0042 · Bed 3 · admitted") and "discharged" in listed[1]
    assert listed[1].endswith("1 h 23 min")
    record = view.record
    assert record is not None and record.stay is not None and len(view.curve.series) == 2250
    assert [label for _, label in view.curve.markers] == ["Analgesic given: morphine 2 mg", "Note: asleep"]
    assert "P-0042" in view.title.text() and not view.annotate_button.isEnabled()


def test_data_retention_deletes_a_discharged_stay_once_its_sessions_are_gone(tmp_path: Path) -> None:
    path = tmp_path / "record.sqlite"
    stay, _ = write_stay(path)
    with RecordWriter(path) as writer:
        writer.delete_sessions_before(T0 + 4000)  # the first session of the stay only
    with RecordReader(path) as reader:
        assert [s.id for s in reader.stays()] == [stay] and len(reader.sessions(stay_id=stay)) == 1
    with RecordWriter(path) as writer:
        writer.delete_sessions_before(T0 + 6000)
    with RecordReader(path) as reader:
        assert reader.stays() == [] and reader.sessions() == []
