"""The replay view driven as a user would (pytest-qt, offscreen): a real face clip analysed in the background,
clicking the curve seeks the video, exports; a recorded session from a real SQLite record; frame-exact seeks
in real clips, including one with a variable frame rate."""

from __future__ import annotations

import csv
import random
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from app.alarms import AlarmKind
from app.record import AnnotationKind, RecordReader
from app.record_writer import RecordWriter
from app.replay.analysis import AnalysisSettings, analyze_video, cache_key
from app.replay.playback import Playback, VideoFrames
from app.replay.view import ReplayView
from engine.applicability import APPLICABLE
from engine.errors import PainmonError
from engine.frame_csv import BOX_COLUMNS, LANDMARK_COLUMNS, FrameTable
from engine.paths import DEMO_MODEL
from engine.sources import open_source
from engine.status import FrameStatus
from tests.helpers import (
    ANALYSIS_TIMEOUT_MS,
    CLIP_FRAMES,
    T0,
    click_at,
    pdf_text,
    read_frames,
    save_random_checkpoint,
    show,
    unwritable_folder,
    write_session,
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model with random (seeded) weights; its card says it is not for clinical use."""
    return save_random_checkpoint(tmp_path_factory.mktemp("model") / "random.safetensors")


def shown_view(qtbot: QtBot, **kwargs: object) -> ReplayView:
    return show(qtbot, ReplayView(**kwargs), 1000, 800)  # type: ignore[arg-type]


def test_replay_of_a_real_clip_analyses_seeks_on_click_and_exports(
        qtbot: QtBot, clip: Path, checkpoint: Path, tmp_path: Path) -> None:
    view = shown_view(qtbot, settings=AnalysisSettings(checkpoint, backend="torch"),
                      record_path=tmp_path / "record.sqlite")
    with qtbot.waitSignal(view.loaded, timeout=ANALYSIS_TIMEOUT_MS):
        view.open_video(clip)
        assert view.progress.isVisible()  # analysis runs in the background; the GUI stays live
        assert view.frame_view.pixmap() is not None and not view.frame_view.pixmap().isNull()
    assert not view.progress.isVisible() and not view.message.isVisible()
    analysis, record = view.analysis, view.record
    assert analysis is not None and record is not None and not analysis.from_cache
    table = record.table
    assert list(table.frame) == list(range(CLIP_FRAMES))
    faces = table.status == "ok"
    assert faces.sum() >= CLIP_FRAMES - 2  # one face throughout the clip
    assert np.all((table.score[faces] >= 0) & (table.score[faces] <= 5))
    np.testing.assert_array_equal(view.curve.series.t, table.t)
    assert view.position == 0

    # Clicking the curve moves the video to the frame nearest to the clicked time.
    frames = read_frames(clip, CLIP_FRAMES)
    for target in (13, 4, 17):
        click_at(qtbot, view.curve, float(table.t[target]))
        assert view.position == target
        np.testing.assert_array_equal(view.playback.frame, frames[target])
        assert view.curve.cursor_time() == pytest.approx(table.t[target])
        assert view.slider.value() == target
        assert f"frame {target + 1}/{CLIP_FRAMES}" in view.time_label.text()

    # An annotation at the cursor is kept with the video (by its hash).
    view.kind_box.setCurrentIndex(view.kind_box.findData(AnnotationKind.NOTE.value))
    view.note_edit.setText("grimace")
    qtbot.mouseClick(view.annotate_button, Qt.MouseButton.LeftButton)
    assert [(a.t, a.text) for a in view.record.annotations] == [(pytest.approx(table.t[17]), "grimace")]
    assert view.curve.markers == [(pytest.approx(table.t[17]), "Note: grimace")]

    # Exports exist and parse.
    csv_path = view.export_csv(tmp_path / "scores.csv")
    with csv_path.open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) == CLIP_FRAMES
    back = FrameTable.read_csv(csv_path)
    np.testing.assert_allclose(back.score, table.score, atol=5e-5, equal_nan=True)
    np.testing.assert_array_equal(back.status, table.status)
    png = cv2.imread(str(view.export_png(tmp_path / "curve.png")))
    assert png is not None and png.shape == (500, 1600, 3)
    pages, text = pdf_text(view.export_pdf(tmp_path / "summary.pdf"))
    assert pages >= 1
    for expected in (clip.name, f"Frames {CLIP_FRAMES}", "Not for clinical use", "test-random 0", "grimace"):
        assert expected in text, expected

    # Opening the same video again loads the cached results and the annotation at once.
    with qtbot.waitSignal(view.loaded, timeout=30_000):
        view.open_video(clip)
    assert view.analysis is not None and view.analysis.from_cache
    np.testing.assert_array_equal(view.record.table.score, table.score)
    assert [a.text for a in view.record.annotations] == ["grimace"]
    assert "results from the cache" in view.title.text()
    view.shutdown()


def test_replay_says_where_the_model_does_not_apply_and_exports_why(
        qtbot: QtBot, clip: Path, tmp_path: Path) -> None:
    """The demo model on a real face: no score at any frame, the time line says why in words, and the
    CSV and the PDF carry the statuses, qualities and applicability."""
    view = shown_view(qtbot, settings=AnalysisSettings(DEMO_MODEL, backend="torch"),
                      record_path=tmp_path / "record.sqlite")
    with qtbot.waitSignal(view.loaded, timeout=ANALYSIS_TIMEOUT_MS):
        view.open_video(clip)
    table = view.record.table
    outside = table.status == FrameStatus.NOT_APPLICABLE.value
    assert outside.sum() >= CLIP_FRAMES - 2 and np.isnan(table.score).all()
    assert (table.applicability[outside] < APPLICABLE).all() and (table.quality[outside] >= 0.5).all()
    assert f"no frame scored: {outside.sum()} model not applicable" in view.title.text()  # the empty curve
    frame = int(np.flatnonzero(outside)[0])
    click_at(qtbot, view.curve, float(table.t[frame]))
    assert view.time_label.text().endswith("pain model not applicable")
    back = FrameTable.read_csv(view.export_csv(tmp_path / "scores.csv"))
    np.testing.assert_array_equal(back.status, table.status)
    np.testing.assert_allclose(back.applicability, table.applicability, atol=5e-5, equal_nan=True)
    text = pdf_text(view.export_pdf(tmp_path / "summary.pdf"))[1]
    assert "Frames scored 0 (0 %)" in text and f"model not applicable {outside.sum()}" in text
    view.shutdown()


def test_cache_key_depends_on_video_model_and_smoothing_only() -> None:
    key = cache_key("a" * 64, "b" * 64, 0.0)
    assert key == cache_key("a" * 64, "b" * 64, 0.0)
    assert len({key, cache_key("c" * 64, "b" * 64, 0.0), cache_key("a" * 64, "c" * 64, 0.0),
                cache_key("a" * 64, "b" * 64, 1.5)}) == 4


def record_writer_threads() -> int:
    """How many record writers are open in this process (each runs one thread)."""
    return sum(thread.name == "record-writer" for thread in threading.enumerate())


def test_a_session_is_annotated_through_the_one_writer_of_its_record(qtbot: QtBot, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "record.sqlite"
    session = write_session(db)
    before = record_writer_threads()
    monitors = RecordWriter(db)  # the main window hands the monitor's writer to replay
    opened: list[RecordWriter] = []
    open_writer = RecordWriter.__init__

    def counted(writer: RecordWriter, *args: object, **kwargs: object) -> None:
        opened.append(writer)
        open_writer(writer, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(RecordWriter, "__init__", counted)
    view = shown_view(qtbot, writer=monitors)
    with qtbot.waitSignal(view.loaded, timeout=5000):
        view.open_session(session)
    view.playback.seek(20)
    view.add_annotation(AnnotationKind.PROCEDURE)
    view.shutdown()
    assert opened == []  # no second writer on the live record
    monitors.add_annotation(session, T0 + 30, AnnotationKind.NOTE, "open")  # replay did not close it
    monitors.close()

    standalone = shown_view(qtbot, record_path=db)  # replay without a monitor owns one writer, then closes it
    with qtbot.waitSignal(standalone.loaded, timeout=5000):
        standalone.open_session(session)
    standalone.playback.seek(40)
    standalone.add_annotation(AnnotationKind.REPOSITIONED)
    standalone.add_annotation(AnnotationKind.ANALGESIC)
    assert len(opened) == 1 and record_writer_threads() == before + 1
    standalone.shutdown()
    assert record_writer_threads() == before
    with RecordReader(db) as reader:
        stored = [(a.t, a.kind) for a in reader.annotations(session)]
    assert stored == [(T0 + 10.0, AnnotationKind.PROCEDURE), (T0 + 20.0, AnnotationKind.REPOSITIONED),
                      (T0 + 20.0, AnnotationKind.ANALGESIC), (T0 + 30, AnnotationKind.NOTE),
                      (T0 + 90, AnnotationKind.ANALGESIC), (T0 + 200, AnnotationKind.NOTE)]


def test_replay_of_a_recorded_session_plays_steps_scrubs_and_annotates(qtbot: QtBot, tmp_path: Path) -> None:
    db = tmp_path / "record.sqlite"
    session = write_session(db)
    view = shown_view(qtbot, record_path=db)
    with qtbot.waitSignal(view.loaded, timeout=5000):
        view.open_session(session)
    record = view.record
    assert record is not None and len(record.table) == 480
    assert not view.frame_view.isVisible()  # sessions keep no video
    assert view.curve.alarm_spans == [(pytest.approx(T0 + 70.5), pytest.approx(T0 + 120.0))]
    assert [label for _, label in view.curve.markers] == ["Analgesic given", "Note: patient asleep"]
    assert [a.kind for a in record.alarms] == [AlarmKind.PAIN]
    assert "P-0042" in view.title.text()
    view.set_threshold(3.5)
    assert view.curve.threshold_line.value() == 3.5 and view.record.threshold == 3.5
    with pytest.raises(ValueError, match="threshold must be in"):
        view.set_threshold(7.0)

    click_at(qtbot, view.curve, T0 + 90.1)
    assert view.position == 180 and view.curve.cursor_time() == T0 + 90.0
    qtbot.mouseClick(view.forward_button, Qt.MouseButton.LeftButton)
    assert view.position == 181
    for _ in range(2):
        qtbot.mouseClick(view.back_button, Qt.MouseButton.LeftButton)
    assert view.position == 179
    view.slider.setValue(300)  # scrubbing
    assert view.position == 300 and view.curve.cursor_time() == T0 + 150.0

    # Play at 4×: the cursor follows and playing stops at the end (9 samples, 4.5 s of record, ~1.1 s).
    view.speed_box.setCurrentIndex(view.speed_box.findText("4×"))
    assert view.playback.speed == 4.0
    view.playback.seek(470)
    qtbot.mouseClick(view.play_button, Qt.MouseButton.LeftButton)
    assert view.playback.playing and view.play_button.text() == "Pause"
    qtbot.waitUntil(lambda: not view.playback.playing, timeout=10_000)
    assert view.position == 479 and view.curve.cursor_time() == T0 + 239.5
    assert view.play_button.text() == "Play"

    # Annotations go into the record; a note without text is refused with a message.
    view.playback.seek(100)
    view.kind_box.setCurrentIndex(view.kind_box.findData(AnnotationKind.REPOSITIONED.value))
    qtbot.mouseClick(view.annotate_button, Qt.MouseButton.LeftButton)
    view.kind_box.setCurrentIndex(view.kind_box.findData(AnnotationKind.NOTE.value))
    with qtbot.waitSignal(view.failed) as failed:
        qtbot.mouseClick(view.annotate_button, Qt.MouseButton.LeftButton)
    assert failed.args == ["a note needs text"] and view.message.isVisible()
    with RecordReader(db) as reader:
        stored = [(a.t, a.kind) for a in reader.annotations(session)]
    assert stored == [(T0 + 50.0, AnnotationKind.REPOSITIONED), (T0 + 90, AnnotationKind.ANALGESIC),
                      (T0 + 200, AnnotationKind.NOTE)]
    assert len(view.curve.markers) == 3


def test_opening_bad_input_reports_one_line(qtbot: QtBot, tmp_path: Path, checkpoint: Path) -> None:
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    view = shown_view(qtbot, settings=AnalysisSettings(checkpoint, backend="torch"),
                      record_path=tmp_path / "none.sqlite")
    cases = [
        (lambda: view.open_video(not_video), "notes.mp4: not a video file"),
        (lambda: view.open_video(tmp_path / "gone.mp4"), "gone.mp4: no such file"),
        (lambda: view.open_session(1), "no painmon record at"),
    ]
    for action, expected in cases:
        with qtbot.waitSignal(view.failed, timeout=30_000) as failed:
            action()
        message = failed.args[0]
        assert expected in message and "\n" not in message and "Traceback" not in message
        assert view.message.isVisible() and view.message.text() == message
        assert view.record is None and not view.play_button.isEnabled()

    view.set_settings(AnalysisSettings(tmp_path / "missing.safetensors"))
    with qtbot.waitSignal(view.failed, timeout=30_000) as failed:
        view.open_video(not_video)
    assert "model file not found" in failed.args[0]


def test_an_unwritable_cache_fails_with_one_line(clip: Path, checkpoint: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("PAINMON_CACHE_DIR", str(blocker))
    with pytest.raises(PainmonError, match=r"^cannot write the analysis to .*cache.*: "):
        analyze_video(clip, AnalysisSettings(checkpoint, backend="torch"))


def test_cancelling_an_analysis_stops_it(qtbot: QtBot, clip: Path, checkpoint: Path) -> None:
    view = shown_view(qtbot, settings=AnalysisSettings(checkpoint, backend="torch"))
    with qtbot.waitSignal(view.failed, timeout=ANALYSIS_TIMEOUT_MS) as failed:
        view.open_video(clip)
        qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    assert "stopped after" in failed.args[0]
    assert view.record is None and not view.progress.isVisible()


@pytest.mark.parametrize("name", ["face_noface.mov", "single_face.mp4"])
def test_seeks_land_on_the_exact_frame(clips_dir: Path, name: str) -> None:
    """face_noface.mov has a variable frame rate: OpenCV's own seek lands frames off; ours must not."""
    with open_source(clips_dir / name) as source:
        frames = list(source)
    video = VideoFrames(clips_dir / name, np.array([f.timestamp for f in frames]))
    order = [len(frames) - 1, 0, 1, *random.Random(0).sample(range(len(frames)), 12), len(frames) - 2]
    try:
        for index in order:
            np.testing.assert_array_equal(video.read(index), frames[index].image, err_msg=f"frame {index}")
    finally:
        video.close()


def test_playing_crosses_a_stretch_without_frames_and_checks_speed(qtbot: QtBot) -> None:
    playback = Playback()
    playback.load(np.array([0.0, 0.1, 0.2, 600.0, 600.1]))  # ten minutes without frames
    positions: list[int] = []
    playback.position_changed.connect(positions.append)
    with qtbot.waitSignal(playback.playing_changed, timeout=5000, check_params_cb=lambda on: not on):
        playback.play()
    assert positions == [1, 2, 3, 4]
    with pytest.raises(ValueError, match=r"speed must be 0\.25–4×, got 8"):
        playback.set_speed(8.0)
    playback.step(-3)
    assert playback.position == 1 and not playback.playing


def test_csv_of_an_analysed_real_clip_has_landmarks_of_face_frames_only(
        qtbot: QtBot, clips_dir: Path, checkpoint: Path, tmp_path: Path) -> None:
    """Eight frames of a face then four without one: the exported CSV has the box and the five landmarks of
    every frame with a face, inside the frame, and empty cells (not 0) where there is none."""
    video = tmp_path / "face_then_none.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 360))
    for frame in [*read_frames(clips_dir / "single_face.mp4", 8),
                  *(cv2.resize(f, (640, 360)) for f in read_frames(clips_dir / "no_face.mp4", 4))]:
        writer.write(frame)
    writer.release()
    view = shown_view(qtbot, settings=AnalysisSettings(checkpoint, backend="torch"),
                      record_path=tmp_path / "record.sqlite")
    with qtbot.waitSignal(view.loaded, timeout=ANALYSIS_TIMEOUT_MS):
        view.open_video(video)
    with (view.export_csv(tmp_path / "scores.csv")).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["status"] for r in rows[8:]] == ["no_face"] * 4
    faces = [r for r in rows if r["status"] != "no_face"]
    assert len(faces) >= 7
    for row in faces:
        xs = [float(row[c]) for c in (*BOX_COLUMNS, *LANDMARK_COLUMNS) if c.endswith(("_x", "x1", "x2"))]
        ys = [float(row[c]) for c in (*BOX_COLUMNS, *LANDMARK_COLUMNS) if c.endswith(("_y", "y1", "y2"))]
        assert all(0 < x < 640 for x in xs) and all(0 < y < 360 for y in ys), row
        assert float(row["x1"]) < float(row["nose_x"]) < float(row["x2"])
    for row in rows[8:]:
        assert {row[c] for c in (*BOX_COLUMNS, *LANDMARK_COLUMNS)} == {""}
    assert [r["seconds_since_start"] for r in rows[:2]] == ["0.000", "0.033"] and "time" not in rows[0]
    view.shutdown()


def test_each_export_says_where_it_was_saved_and_a_failure_in_one_line(
        qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "record.sqlite"
    session = write_session(db)
    view = shown_view(qtbot, record_path=db)
    with qtbot.waitSignal(view.loaded, timeout=5000):
        view.open_session(session)
    chosen: list[Path] = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(chosen[-1]), ""))
    for kind in ("csv", "png", "pdf"):
        chosen.append(tmp_path / f"bed 3.{kind}")
        qtbot.mouseClick(view.export_buttons[kind], Qt.MouseButton.LeftButton)
        assert chosen[-1].stat().st_size > 0
        assert view.saved_label.isVisible() and view.saved_label.text() == f"Saved to {chosen[-1]}"
        assert view.saved_label.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
        assert not view.message.isVisible()
    qtbot.mouseClick(view.copy_path_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == str(tmp_path / "bed 3.pdf")

    folder = unwritable_folder(tmp_path)
    for kind in ("csv", "png", "pdf"):
        chosen.append(folder / f"bed 3.{kind}")
        with qtbot.waitSignal(view.failed) as failed:
            qtbot.mouseClick(view.export_buttons[kind], Qt.MouseButton.LeftButton)
        message = failed.args[0]
        assert message.startswith(f"{kind.upper()} export failed: cannot write {chosen[-1]}")
        assert "\n" not in message and "Traceback" not in message
        assert view.message.isVisible() and view.message.text() == message
        assert not view.saved_label.isVisible() and not chosen[-1].exists()
    view.shutdown()


def test_a_session_replays_with_its_beds_own_alarm_limit(qtbot: QtBot, tmp_path: Path) -> None:
    """A nurse's try: a bed alarming at 1.0 was replayed, and its PDF summed, against the default 3."""
    db = tmp_path / "record.sqlite"
    with RecordWriter(db) as writer:
        session = writer.start_session("bed-2", "Bed 2", source="camera 0", started_at=T0, alarm_limit=1.0)
        for i in range(60):
            writer.add_sample(session, T0 + i, 1.5 if i < 30 else 0.5, FrameStatus.OK)
        writer.end_session(session, T0 + 60)
    view = shown_view(qtbot, record_path=db)
    with qtbot.waitSignal(view.loaded, timeout=5000):
        view.open_session(session)
    assert view.record is not None and view.record.threshold == 1.0
    assert view.curve.threshold_line.value() == 1.0
    text = pdf_text(view.export_pdf(tmp_path / "session.pdf"))[1]
    assert "Time at or above 1 0:00:3" in text  # the 30 s at 1.5, against the bed's own limit
