"""Replay exports on real files: per-frame CSV round trip, curve PNG, PDF summary parsed with Qt's PDF
reader; statistics against hand-derived values; sessions read from a real SQLite record."""

from __future__ import annotations

import csv
import dataclasses
import math
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QApplication, QLabel

from app.export import (
    PNG_SIZE,
    ExportError,
    ReplayRecord,
    curve_figure,
    format_time,
    score_stats,
    session_record,
    write_csv,
    write_pdf,
    write_png,
)
from app.record import Annotation, AnnotationKind, RecordReader
from app.record_writer import RecordWriter
from app.settings_view import card_html
from app.widgets.curve import CURVE_COLOUR
from engine.frame_csv import BOX_COLUMNS, CSV_COLUMNS, LANDMARK_COLUMNS, FrameTable
from engine.model_card import ModelCard, read_card
from engine.paths import DEMO_MODEL
from engine.status import FrameStatus
from tests.helpers import T0, pdf_text, write_session


def table_with_faces() -> FrameTable:
    """Six frames at 10 fps: faces with geometry, one frame without a face, one session-only status."""
    t = np.arange(6) / 10
    score = np.array([1.0, 2.5, np.nan, 3.25, 4.0, np.nan])
    status = np.array(["ok", "ok", "no_face", "ok", "ok", "camera_lost"])
    table = FrameTable.from_columns(t, score, status, frame=np.arange(6) + 100)
    for i in (0, 1, 3, 4):
        table.box[i] = [10.5 + i, 20.0, 110.25, 140.0]
        table.landmarks[i] = np.arange(10).reshape(5, 2) + 30.0 + i
    return table


def card(clinical_use: bool = False) -> ModelCard:
    return ModelCard(name="demo-regressor", version="1.2", backbone="face_cnn_small", pretrained=None,
                     input_size=(112, 96), mean=128.0, std=128.0, trained_on="synthetic UNBC twin",
                     clinical_use=clinical_use, metrics={"MAE": 0.412, "PCC": 0.61})


def test_csv_round_trips_with_the_columns_of_painmon_analyze(tmp_path: Path) -> None:
    table = table_with_faces()
    record = ReplayRecord("clip.mp4", "clip.mp4", table, wall_clock=False)
    path = write_csv(record, tmp_path / "scores.csv")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == ("seconds_since_start", "alarm", "annotation", *CSV_COLUMNS)  # no clock time
    assert [int(r["frame"]) for r in rows] == list(range(100, 106))
    assert [r["seconds_since_start"] for r in rows] == ["0.000", "0.100", "0.200", "0.300", "0.400", "0.500"]
    assert [r["score"] for r in rows] == ["1.0000", "2.5000", "", "3.2500", "4.0000", ""]  # gaps stay empty
    assert rows[2]["x1"] == "" and rows[5]["status"] == "camera_lost"

    back = FrameTable.read_csv(path)
    np.testing.assert_array_equal(back.frame, table.frame)
    np.testing.assert_allclose(back.t, table.t)
    np.testing.assert_allclose(back.score, table.score, equal_nan=True)
    np.testing.assert_array_equal(back.status, table.status)
    np.testing.assert_allclose(back.box, table.box, atol=0.05, equal_nan=True)  # written to 0.1 px
    np.testing.assert_allclose(back.landmarks, table.landmarks, atol=0.05, equal_nan=True)


def test_reading_a_csv_that_is_not_a_per_frame_csv_fails_clearly(tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a painmon per-frame CSV"):
        FrameTable.read_csv(other)
    short = tmp_path / "short.csv"
    short.write_text(",".join(CSV_COLUMNS) + "\n1,0.0,2.0\n")
    with pytest.raises(ValueError, match="wrong number of cells"):
        FrameTable.read_csv(short)


def test_statistics_match_hand_derived_values() -> None:
    # 10 fps, then a 5 s stretch without frames before the last two frames.
    t = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 5.4, 5.5])
    score = np.array([1.0, 3.0, np.nan, 4.0, 2.0, 3.5, 0.5])
    status = np.array(["ok", "ok", "no_face", "ok", "ok", "ok", "ok"])
    stats = score_stats(FrameTable.from_columns(t, score, status), threshold=3.0)
    assert stats.frames == 7 and stats.scored == 6 and stats.gaps == {FrameStatus.NO_FACE: 1}
    assert stats.mean == pytest.approx(14.0 / 6)
    assert stats.median == pytest.approx(2.5)
    assert (stats.peak, stats.peak_t) == (4.0, 0.3)
    # At or above 3: frames at 0.1 (until 0.2), 0.3 (until 0.4) and 5.4 (until 5.5): 0.3 s. The frame at 0.4
    # counts for nothing (5 s to the next frame) and the last one for the typical interval (0.1 s).
    assert stats.above_threshold_s == pytest.approx(0.3)
    assert stats.scored_s == pytest.approx(0.5)  # frames at 0, 0.1, 0.3, 5.4, 5.5

    empty = score_stats(FrameTable.from_columns(t[:2], [np.nan, np.nan], ["no_face"] * 2), threshold=3.0)
    assert empty.scored == 0 and math.isnan(empty.mean) and empty.above_threshold_s == 0.0


def test_curve_png_has_the_requested_size_and_shows_the_curve(tmp_path: Path) -> None:
    record = ReplayRecord("clip.mp4", "clip.mp4", table_with_faces(), wall_clock=False)
    path = write_png(record, tmp_path / "curve.png")
    image = cv2.imread(str(path))
    assert image is not None and image.shape == (PNG_SIZE[1], PNG_SIZE[0], 3)
    blue = np.array([int(CURVE_COLOUR[i:i + 2], 16) for i in (5, 3, 1)])  # BGR of the curve colour
    assert (np.abs(image.astype(int) - blue).sum(axis=2) < 30).sum() > 200

    small = cv2.imread(str(write_png(record, tmp_path / "small.png", size=(640, 240))))
    assert small.shape == (240, 640, 3)


def test_exports_to_a_missing_folder_fail_with_one_line(tmp_path: Path, qapp: QApplication) -> None:
    record = ReplayRecord("clip.mp4", "clip.mp4", table_with_faces(), wall_clock=False)
    for write in (write_csv, write_png, write_pdf):
        with pytest.raises(ExportError, match=r"^cannot write .*: folder .* does not exist$"):
            write(record, tmp_path / "missing" / "out.file")


def test_pdf_summary_of_a_video_parses_and_says_what_matters(tmp_path: Path, qapp: QApplication) -> None:
    record = ReplayRecord("clip.mp4", "/videos/clip.mp4", table_with_faces(), wall_clock=False,
                          card=card(clinical_use=False), model="demo-regressor 1.2", threshold=3.0)
    path = write_pdf(record, tmp_path / "summary.pdf")
    assert path.read_bytes().startswith(b"%PDF-")
    pages, text = pdf_text(path)
    assert pages >= 1
    for expected in ("Pain replay summary", "clip.mp4", "Not for clinical use", "Frames 6",
                     "Frames scored 4 (67 %)", "Frames without a score no face 1; camera lost 1",
                     "Mean score 2.69", "Median score 2.88",
                     "Peak score 4.00 at 0:00.4", "Time at or above 3 0:00:00.2", "demo-regressor 1.2",
                     "synthetic UNBC twin", "MAE: 0.412"):
        assert expected in text, expected

    clinical = write_pdf(ReplayRecord("clip.mp4", "clip.mp4", table_with_faces(), wall_clock=False,
                                      card=card(clinical_use=True)), tmp_path / "clinical.pdf")
    assert "Not for clinical use" not in pdf_text(clinical)[1]


def test_a_recorded_session_exports_its_alarms_annotations_and_period(tmp_path: Path,
                                                                      qapp: QApplication) -> None:
    db = tmp_path / "record.sqlite"
    session = write_session(db)
    with RecordReader(db) as reader:
        record = session_record(reader, session, threshold=3.0)
    assert record.wall_clock and record.patient == "P-0042" and record.bed == "Bed 3"
    assert len(record.table) == 480 and record.period == (T0, T0 + 240)
    assert [a.kind.value for a in record.alarms] == ["pain"]
    assert [a.text for a in record.annotations] == ["", "patient asleep"]

    text = pdf_text(write_pdf(record, tmp_path / "session.pdf"))[1]
    raised = format_time(record.alarms[0].raised_at, wall_clock=True, with_date=False)  # the period has it
    for expected in ("Bed 3 — session 1", "Patient P-0042", "Bed Bed 3", "camera 0",
                     f"Period {format_time(T0, True)} – {format_time(T0 + 240, True)} (0:04:00)",
                     "Frames 480", "Frames scored 461 (96 %)", "Frames without a score no face 19",
                     f"pain medium {raised}",
                     "Pain ≥ 3 for 10 s", "Analgesic given", "Note patient asleep",
                     "No model card available (demo-regressor 1.2)", "Time at or above 3 0:00:39.5"):
        assert expected in text, expected
    image = cv2.imread(str(write_png(record, tmp_path / "session.png")))
    assert image.shape == (PNG_SIZE[1], PNG_SIZE[0], 3)
    write_csv(record, tmp_path / "session.csv")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.glob("session.*")}
    assert modes == dict.fromkeys(("session.pdf", "session.png", "session.csv"), 0o600)  # they name a patient


def test_a_long_annotation_list_flows_onto_more_pages(tmp_path: Path, qapp: QApplication) -> None:
    db = tmp_path / "record.sqlite"
    session = write_session(db)
    with RecordWriter(db) as writer:
        for i in range(120):
            writer.add_annotation(session, T0 + i, AnnotationKind.NOTE, f"check {i:03d}")
    with RecordReader(db) as reader:
        record = session_record(reader, session)
    pages, text = pdf_text(write_pdf(record, tmp_path / "long.pdf"))
    assert pages >= 3
    assert "check 000" in text and "check 119" in text


def test_session_record_of_an_unknown_session_fails_clearly(tmp_path: Path) -> None:
    db = tmp_path / "record.sqlite"
    write_session(db)
    with RecordReader(db) as reader, pytest.raises(Exception, match="has no session 7"):
        session_record(reader, 7)


@pytest.fixture
def central_european_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is Central European (UTC+1, +2 in summer), whatever the machine's zone."""
    monkeypatch.setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_session_csv_has_local_iso_times_seconds_since_start_and_its_events(
        tmp_path: Path, central_european_time: None) -> None:
    db = tmp_path / "record.sqlite"
    session = write_session(db)
    with RecordReader(db) as reader:
        record = session_record(reader, session, threshold=3.0)
    path = write_csv(record, tmp_path / "session.csv")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it tells what happened to a patient
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0])[:4] == ("time", "seconds_since_start", "alarm", "annotation")
    assert len(rows) == 480
    # T0 is 2025-06-15 15:06:40 UTC: 17:06:40 in Central European summer time.
    assert rows[0]["time"] == "2025-06-15T17:06:40.000+02:00"
    assert rows[1]["time"] == "2025-06-15T17:06:40.500+02:00"
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", r["time"]) for r in rows)
    assert [r["seconds_since_start"] for r in rows[:3]] == ["0.000", "0.500", "1.000"]
    assert rows[-1]["seconds_since_start"] == "239.500"

    events = {r["seconds_since_start"]: (r["alarm"], r["annotation"]) for r in rows
              if r["alarm"] or r["annotation"]}
    assert events == {
        "70.500": ("pain alarm raised (medium priority): Pain ≥ 3 for 10 s", ""),
        "90.000": ("", "Analgesic given"),
        "120.000": ("pain alarm acknowledged; pain alarm cleared", ""),
        "200.000": ("", "Note: patient asleep"),
    }
    # A session keeps no face geometry: its box and landmark cells are empty, never 0.
    assert {r[column] for r in rows for column in (*BOX_COLUMNS, *LANDMARK_COLUMNS)} == {""}

    back = FrameTable.read_csv(path)  # still a per-frame CSV
    np.testing.assert_allclose(back.t, record.table.t)
    np.testing.assert_allclose(back.score, record.table.score, equal_nan=True)


def test_pdf_numbers_and_the_model_card_are_written_for_people(tmp_path: Path, qapp: QApplication) -> None:
    """An hour-long recording of 3,700 frames with a card whose metrics nest: no scientific notation, no
    raw dict or list, durations as h:mm:ss, counts with thousands separators."""
    t = np.arange(3700.0)
    score = np.where(t < 1800, 3.5, 1.0)
    status = np.where(t % 10 == 0, "no_face", "ok")
    score[status == "no_face"] = np.nan
    metrics = {"frames": 1500.0, "lr": 0.0005, "pooled": {"mae": 0.74178, "pcc": 0.9042},
               "held_out_subjects": ["042-ll042", "052-dr052"], "synthetic_data": True}
    record = ReplayRecord("long.mp4", "long.mp4", FrameTable.from_columns(t, score, status), wall_clock=False,
                          card=dataclasses.replace(card(), metrics=metrics), threshold=3.0)
    text = pdf_text(write_pdf(record, tmp_path / "long.pdf"))[1]
    assert not re.search(r"\d[eE][+-]?\d", text), text
    assert "{" not in text and "[" not in text, text
    for expected in ("(1:01:39)", "Frames 3,700", "Frames scored 3,330 (90 %)", "no face 370",
                     "Time at or above 3 0:27:00 (49 % of the scored time)", "Mean score 2.22",
                     "Frames: 1,500", "LR: 0.0005", "Pooled: MAE 0.742, PCC 0.904",
                     "Held out subjects: 042-ll042, 052-dr052", "Synthetic data: yes"):
        assert expected in text, expected


def test_the_model_card_in_settings_reads_as_lines(qapp: QApplication) -> None:
    label = QLabel(card_html(read_card(DEMO_MODEL)))
    document = QTextDocument()
    document.setHtml(label.text())
    text = document.toPlainText()
    assert "{" not in text and "[" not in text and not re.search(r"\d[eE][+-]?\d", text), text
    for expected in ("Frames: 1,500", "Held out subjects: 042-ll042, 052-dr052",
                     "Pooled: ICC 0.875, MAE 0.742", "Synthetic data: yes", "13,466 faces of 100 subjects"):
        assert expected in text, expected


def test_png_labels_of_close_annotations_do_not_overlap(tmp_path: Path) -> None:
    """Six annotations 2 s apart and twenty 0.3 s apart on a 4-minute session: every label is shown or
    counted in the one it was collected into, and no two labels' boxes intersect."""
    kinds = [AnnotationKind.NOTE, AnnotationKind.ANALGESIC, AnnotationKind.REPOSITIONED,
             AnnotationKind.PROCEDURE]
    annotations = [Annotation(i, T0 + 30 + 2 * i, kinds[i % 4], "grimace at wound care" if i == 0 else "")
                   for i in range(6)]
    annotations += [Annotation(10 + i, T0 + 200 + 0.3 * i, AnnotationKind.NOTE, f"check {i}")
                    for i in range(20)]
    t = T0 + np.arange(0.0, 240.0, 0.5)
    record = ReplayRecord("Bed 3", "camera 0", FrameTable.from_columns(t, np.ones_like(t), ["ok"] * len(t)),
                          wall_clock=True, annotations=annotations, period=(T0, T0 + 240))
    figure = curve_figure(record)
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    labels = figure.axes[0].texts
    boxes = [label.get_window_extent(renderer) for label in labels]
    for i, a in enumerate(boxes):
        assert figure.bbox.contains(a.x0, a.y0) and figure.bbox.contains(a.x1, a.y1)
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)
    shown = [label.get_text() for label in labels]
    assert shown[:6] == ["Note: grimace at wound care", "Analgesic given", "Repositioned", "Procedure",
                         "Note", "Analgesic given"]
    more = [int(m) for text in shown for m in re.findall(r"\(\+(\d+) more\)", text)]
    assert len(shown) + sum(more) == len(annotations)
    assert cv2.imread(str(write_png(record, tmp_path / "labels.png"))).shape == (PNG_SIZE[1], PNG_SIZE[0], 3)
