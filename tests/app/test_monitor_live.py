"""The live monitor driven through its real window (pytest-qt, offscreen): real simulated-patient and video
sources in capture threads, MTCNN and the bundled demo model on ONNX Runtime in the inference thread, a
real SQLite record.

The simulated patient is deterministic per seed: neutral for its first 3 s, then a strong pain episode. The
demo model (trained on the synthetic twin) follows it, so the pain alarm is raised by the simulated pain.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.alarms import AlarmKind, AlarmState, Priority, Transition
from app.beds import BedConfig, Source, SourceKind, beds_path, load_beds
from app.main_window import MainWindow
from app.record import AnnotationKind, RecordReader, record_path
from app.settings import MonitorSettings, save_settings
from engine.applicability import UNKNOWN
from engine.model_card import read_card
from engine.paths import DEMO_MODEL
from engine.status import FrameStatus
from tests.helpers import (
    LIVE_TIMEOUT_MS,
    answer_message_box,
    recorded_samples,
    save_random_checkpoint,
    tampered_checkpoint,
)


def fill_dialog(qtbot, window: MainWindow, name: str, source: Source, *, threshold: float = 3.0,
                delay_s: float = 10.0, not_applicable_s: float = 30.0, record_video: bool = False) -> None:
    """Add a bed the way a nurse does: Add bed…, fill in the dialog, OK."""
    qtbot.mouseClick(window.ward.add_button, Qt.MouseButton.LeftButton)
    dialog = window.bed_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.name_edit.setText(name)
    dialog.set_source_kind(source.kind)
    if source.kind is SourceKind.SIMULATED:
        dialog.seed_spin.setValue(source.seed)
    else:
        dialog.file_edit.setText(source.location)
    dialog.threshold_spin.setValue(threshold)
    dialog.delay_spin.setValue(delay_s)
    dialog.not_applicable_spin.setValue(not_applicable_s)
    dialog.record_check.setChecked(record_video)
    qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert window.bed_dialog is None, dialog.error_label.text()


def bed_named(window: MainWindow, name: str):
    return next(r for r in window.monitor.beds if r.config.name == name)


def curve_points(window: MainWindow) -> int:
    """Finite points drawn on the bed view's pain curve."""
    _, y = window.bed_view.curve.curve.getData()
    return 0 if y is None else int(np.isfinite(y).sum())


def test_first_start_shows_one_simulated_bed_and_says_the_model_is_missing(
        qtbot, open_window, tmp_path: Path):
    missing = tmp_path / "demo_model.safetensors"
    save_settings(MonitorSettings(model_path=str(missing)))
    window = open_window(fallback_model=missing)  # no beds.json yet: a first start
    assert [r.config.source.kind for r in window.monitor.beds] == [SourceKind.SIMULATED]
    tile = window.ward.tiles[window.monitor.beds[0].bed_id]
    # the bundled demo model is not in this checkout: the banner says so, the bed still shows video
    qtbot.waitUntil(lambda: window.monitor.model is not None, timeout=LIVE_TIMEOUT_MS)
    assert "model file not found" in window.model_banner.text()
    assert window.model_banner.isVisible()
    qtbot.waitUntil(lambda: tile.thumbnail.pixmap() is not None and not tile.thumbnail.pixmap().isNull(),
                    timeout=LIVE_TIMEOUT_MS)
    bed = window.monitor.beds[0]
    qtbot.waitUntil(lambda: any(a.kind is AlarmKind.MODEL_ERROR for a in bed.alarms.alarms),
                    timeout=LIVE_TIMEOUT_MS)
    assert tile.score_label.text() == "—"  # no model: a gap, never 0
    assert tile.alarm_signal.priority is Priority.LOW and not tile.alarm_signal.flashing


def test_a_model_whose_card_breaks_its_schema_is_refused_in_the_banner(
        qtbot, open_window, model_file: Path, tmp_path: Path):
    # "no" is text, not false: read as true it would hide the NOT FOR CLINICAL USE banner
    model = tampered_checkpoint(DEMO_MODEL, tmp_path / "tampered.safetensors", card={"clinical_use": "no"})
    save_settings(MonitorSettings(model_path=str(model), backend="onnx", device="cpu"))
    window = open_window(beds=[], fallback_model=None)
    qtbot.waitUntil(lambda: window.monitor.model is not None, timeout=LIVE_TIMEOUT_MS)
    reason = f"{model} has an invalid model card: clinical_use must be true or false, got 'no'"
    assert window.monitor.model.error == reason
    assert window.model_banner.isVisible() and window.model_banner.text() == f"No pain scores: {reason}"
    window.close_without_asking()

    window = open_window(beds=[])  # with the bundled demo model to fall back on: it runs, the banner says why
    qtbot.waitUntil(lambda: window.monitor.model is not None, timeout=LIVE_TIMEOUT_MS)
    assert window.monitor.model.path == str(DEMO_MODEL) and window.monitor.model.error is None
    assert window.model_banner.text().startswith(f"Running the bundled demo model instead: {reason} — NOT")
    assert window.monitor.settings.model_path == str(model)  # the settings still name it


def test_a_model_without_a_description_of_its_faces_says_its_applicability_is_unknown(
        qtbot, open_window, tmp_path: Path):
    model = save_random_checkpoint(tmp_path / "undescribed.safetensors")
    save_settings(MonitorSettings(model_path=str(model), backend="onnx", device="cpu"))
    window = open_window(beds=[])
    qtbot.waitUntil(lambda: window.monitor.model is not None, timeout=LIVE_TIMEOUT_MS)
    assert window.monitor.model.error is None
    assert window.model_banner.isVisible() and UNKNOWN in window.model_banner.text()
    assert UNKNOWN in window.settings_view.card_label.text()


def test_added_simulated_bed_gets_scores_curve_record_markers_and_privacy_pause(
        qtbot, open_window, model_file: Path):
    window = open_window(beds=[])
    fill_dialog(qtbot, window, "Bed 7", Source.simulated(seed=3), threshold=5.0, record_video=True)
    assert [b.name for b in load_beds()] == ["Bed 7"]  # persisted at once
    bed = bed_named(window, "Bed 7")
    tile = window.ward.tiles[bed.bed_id]

    # the model card: banner (not for clinical use) and the settings view
    qtbot.waitUntil(lambda: window.monitor.model is not None, timeout=LIVE_TIMEOUT_MS)
    assert window.monitor.model.error is None
    assert window.model_banner.isVisible() and "NOT FOR CLINICAL USE" in window.model_banner.text()
    assert "applicability unknown" not in window.model_banner.text()  # the demo model is described
    assert read_card(DEMO_MODEL).name in window.settings_view.card_label.text()
    assert "faces of 100 subjects" in window.settings_view.card_label.text()

    # scores arrive on the tile and the curve grows in the bed view
    qtbot.mouseClick(tile, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is window.bed_view and window.bed_view.bed_id == bed.bed_id
    qtbot.waitUntil(lambda: curve_points(window) >= 3, timeout=LIVE_TIMEOUT_MS)
    first = curve_points(window)
    qtbot.waitUntil(lambda: curve_points(window) >= first + 5, timeout=LIVE_TIMEOUT_MS)
    assert float(tile.score_label.text()) == pytest.approx(bed.score, abs=0.05)
    assert 0.0 <= bed.score <= 5.0
    assert "face" in tile.status_label.full_text() and "fps" in tile.status_label.full_text()
    assert window.bed_view.video.pixmap() is not None and not window.bed_view.video.pixmap().isNull()
    # only the newest frame per bed waits for the model: every frame is analysed, dropped, or the one waiting
    analysed = len(bed.history)
    captured, dropped = window.monitor.slots.counts(bed.bed_id)
    assert analysed + dropped <= captured <= analysed + dropped + 1 + 8  # a few still in flight

    # one-click markers land on the curve and in the record
    qtbot.mouseClick(window.bed_view.annotation_buttons[AnnotationKind.ANALGESIC], Qt.MouseButton.LeftButton)
    window.bed_view.note_edit.setText("family visiting")
    qtbot.mouseClick(window.bed_view.note_button, Qt.MouseButton.LeftButton)
    markers = [label for _, label in window.bed_view.curve.markers]
    assert markers == ["Analgesic given", "Note: family visiting"]

    # privacy pause: capture and analysis stop, the gap is marked; no score shown
    qtbot.mouseClick(window.bed_view.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "privacy pause" in tile.status_label.full_text(), timeout=LIVE_TIMEOUT_MS)
    assert tile.score_label.text() == "—"
    paused_at = len(bed.history)
    qtbot.wait(1000)
    assert len(bed.history) == paused_at  # nothing analysed while paused
    window.monitor.record.flush()

    with RecordReader(record_path()) as reader:
        session = reader.sessions(bed.bed_id)[-1]
        samples = reader.samples(session.id)
        assert session.bed_name == "Bed 7" and session.model == str(model_file)
        ok = samples.status == "ok"
        assert ok.sum() >= first + 5 and np.all((samples.score[ok] >= 0) & (samples.score[ok] <= 5))
        assert samples.status[-1] == FrameStatus.PAUSED and math.isnan(samples.score[-1])
        assert [(a.kind, a.text) for a in reader.annotations(session.id)] == [
            (AnnotationKind.ANALGESIC, ""), (AnnotationKind.NOTE, "family visiting")]

    # the session replays in the Replay tab, with the live model's card for the exports
    with qtbot.waitSignal(window.replay.loaded, timeout=LIVE_TIMEOUT_MS) as replayed:
        window.replay.open_session(session.id)
    replayed_record = replayed.args[0]
    assert replayed_record.card.name == read_card(DEMO_MODEL).name
    assert len(replayed_record.table.t) == len(samples)

    window.monitor.set_paused(bed.bed_id, False)
    qtbot.waitUntil(lambda: len(bed.history) >= paused_at + 5, timeout=LIVE_TIMEOUT_MS)  # a new capture run

    # the opted-in video: an MP4 per capture run (before the pause, after it) and a sidecar with one
    # wall-clock time per written frame
    window.close_without_asking()  # stops the capture, which closes the video files
    videos = sorted((beds_path().parent / "video").glob("*.mp4"))
    assert len(videos) == 2
    times = videos[0].with_suffix(".timestamps.csv").read_text().splitlines()
    capture = cv2.VideoCapture(str(videos[0]))
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    assert times[0] == "frame,t" and frames == len(times) - 1 >= first
    stamps = np.array([float(line.split(",")[1]) for line in times[1:]])
    assert np.all(np.diff(stamps) > 0)


def test_pain_alarm_fires_after_the_delay_and_stays_latched_until_acknowledged(
        qtbot, open_window, model_file: Path):
    threshold, delay = 2.5, 1.0
    window = open_window(beds=[])
    # the model is ready before the patient's pain episode
    qtbot.waitUntil(lambda: window.monitor.model is not None, timeout=LIVE_TIMEOUT_MS)
    fill_dialog(qtbot, window, "Bed 3", Source.simulated(seed=3), threshold=threshold, delay_s=delay)
    bed = bed_named(window, "Bed 3")
    tile = window.ward.tiles[bed.bed_id]
    banner = window.alarm_banner

    qtbot.waitUntil(lambda: any(a.kind is AlarmKind.PAIN for a in bed.alarms.alarms), timeout=LIVE_TIMEOUT_MS)
    raised = next(e.event for e in window.monitor.alarm_log if e.event.transition is Transition.RAISED
                  and e.event.kind is AlarmKind.PAIN)
    t, score = bed.history.t, bed.history.score
    first_high = float(t[np.flatnonzero(score >= threshold)[0]])
    assert first_high - t[np.isfinite(score)][0] >= 2.5  # the patient's first 3 s are neutral: no pain
    assert raised.t - first_high >= delay  # raised by the episode, and not before the delay
    # medium priority: yellow, flashing at 0.4–0.8 Hz, on the tile and in the banner, with Acknowledge
    window.monitor.tick()
    assert tile.alarm_signal.priority is Priority.MEDIUM and 0.4 <= tile.alarm_signal.flash_hz <= 0.8
    assert banner.isVisible() and banner.acknowledge_button.isEnabled()
    assert "Bed 3" in banner.text_label.text()

    # the episode passes and the scores fall: the alarm latches and keeps flashing until acknowledged
    window.open_bed(bed.bed_id)
    qtbot.waitUntil(lambda: bed.alarms.alarms and bed.alarms.alarms[0].state is AlarmState.LATCHED,
                    timeout=LIVE_TIMEOUT_MS)
    assert bed.score < threshold
    qtbot.wait(300)
    assert tile.alarm_signal.flashing and banner.isVisible() and bed.alarms.audible
    assert window.monitor.tone.active and window.monitor.tone.bursts >= 1
    assert window.bed_view.curve.alarm_spans and window.bed_view.curve.alarm_spans[0][0] == raised.t

    qtbot.mouseClick(banner.audio_pause_button, Qt.MouseButton.LeftButton)  # silences, still flashes
    assert not window.monitor.tone.active and tile.alarm_signal.flashing and banner.isVisible()

    qtbot.mouseClick(banner.acknowledge_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: banner.text_label.text() == "No alarms", timeout=5000)
    assert bed.alarms.alarms == [] and tile.alarm_signal.priority is Priority.NONE
    log = [(row[2], row[4]) for row in reversed(window.alarm_log.rows()) if row[2] == "pain"]
    assert log == [("pain", "raised"), ("pain", "latched"), ("pain", "acknowledged"), ("pain", "cleared")]

    window.monitor.record.flush()
    with RecordReader(record_path()) as reader:
        session = reader.sessions(bed.bed_id)[-1]
        [episode] = [a for a in reader.alarms(session.id) if a.kind is AlarmKind.PAIN]
        assert episode.raised_at == raised.t
        assert episode.acknowledged_at is not None and episode.cleared_at == episode.acknowledged_at


def test_technical_alarm_when_the_source_fails_is_retried_and_when_the_video_ends(
        qtbot, open_window, model_file, clips_dir: Path, tmp_path: Path):
    clip = tmp_path / "late.mp4"  # not there yet: the bed cannot open its source
    window = open_window(beds=[BedConfig("Video bed", Source.file(clip))])
    bed = window.monitor.beds[0]
    tile = window.ward.tiles[bed.bed_id]

    def camera_lost() -> str | None:
        return next((a.message for a in bed.alarms.alarms if a.kind is AlarmKind.CAMERA_LOST), None)

    qtbot.waitUntil(lambda: camera_lost() is not None, timeout=LIVE_TIMEOUT_MS)
    assert "no such file" in camera_lost() and "retrying" in camera_lost()
    assert tile.alarm_signal.priority is Priority.LOW and not tile.alarm_signal.flashing  # steady cyan
    assert "no such file" in tile.status_label.full_text()

    # the file appears: the retry opens it, the technical alarm clears itself and frames are analysed
    source = cv2.VideoCapture(str(clips_dir / "single_face.mp4"))
    writer = cv2.VideoWriter(str(tmp_path / "part.mp4"), cv2.VideoWriter.fourcc(*"mp4v"), 10.0, (320, 180))
    for _ in range(60):  # six seconds: the alarm clears once frames have flowed for three
        writer.write(cv2.resize(source.read()[1], (320, 180)))
    writer.release()
    source.release()
    shutil.move(tmp_path / "part.mp4", clip)
    qtbot.waitUntil(lambda: camera_lost() is None and bed.source_ok, timeout=LIVE_TIMEOUT_MS)
    # frames are analysed: the demo model (trained on rendered faces) says it does not apply to this real
    # face and gives no score
    qtbot.waitUntil(lambda: bed.latest is not None and bed.latest.sample.status is FrameStatus.NOT_APPLICABLE,
                    timeout=LIVE_TIMEOUT_MS)
    assert not np.isfinite(bed.history.score).any() and bed.reason == "model not applicable"

    # and when the video ends, the bed says so: an informational state, not another camera-lost alarm
    qtbot.waitUntil(lambda: tile.status_label.full_text() == "video ended", timeout=LIVE_TIMEOUT_MS)
    assert camera_lost() is None and tile.thumbnail.text() == "no video"
    transitions = [(e.event.kind, e.event.transition) for e in window.monitor.alarm_log]
    assert transitions.count((AlarmKind.CAMERA_LOST, Transition.RAISED)) == 1
    assert (AlarmKind.CAMERA_LOST, Transition.CLEARED) in transitions


def test_a_real_face_outside_the_demo_models_data_raises_no_pain_alarm_but_says_so(
        qtbot, open_window, model_file: Path, clips_dir: Path):
    """The demo model scores the calm real man of WolfgangLanger_Pexels.mp4 at 3.8 when it does not know
    better: with its description of its training faces it gives no score, the tile says why in words, and
    after the configured delay the bed raises the low-priority "model not applicable" alarm, never pain."""
    window = open_window(beds=[])
    fill_dialog(qtbot, window, "Bed 4", Source.file(clips_dir / "WolfgangLanger_Pexels.mp4"), threshold=3.0,
                delay_s=2.0, not_applicable_s=3.0)
    bed = bed_named(window, "Bed 4")
    tile = window.ward.tiles[bed.bed_id]
    assert bed.config.alarms.not_applicable_delay_s == 3.0

    def raised(kind: AlarmKind) -> bool:
        return any(a.kind is kind for a in bed.alarms.alarms)

    qtbot.waitUntil(lambda: raised(AlarmKind.NOT_APPLICABLE), timeout=LIVE_TIMEOUT_MS)
    assert not raised(AlarmKind.PAIN) and not np.isfinite(bed.history.score).any()
    assert tile.alarm_signal.priority is Priority.LOW and not tile.alarm_signal.flashing
    assert "Model not applicable to this patient" in tile.alarm_signal.text
    assert tile.score_label.text() == "—"
    assert tile.reading.reason.text() == "model not applicable"
    assert tile.reading.quality.text().startswith("face quality ")  # a good face: the model is the problem
    transitions = [(e.event.kind, e.event.transition) for e in window.monitor.alarm_log]
    assert (AlarmKind.PAIN, Transition.RAISED) not in transitions


def test_edited_and_removed_beds_persist(qtbot, open_window, tmp_path: Path):
    save_settings(MonitorSettings(model_path=str(tmp_path / "none.safetensors")))  # video only
    window = open_window(fallback_model=None)
    bed = window.monitor.beds[0]
    window.open_bed(bed.bed_id)
    qtbot.mouseClick(window.bed_view.edit_button, Qt.MouseButton.LeftButton)
    dialog = window.bed_dialog
    dialog.name_edit.setText("Window bed")
    dialog.threshold_spin.setValue(4.0)
    dialog.accept()
    assert bed.config.name == "Window bed" and bed.alarms.config.threshold == 4.0
    assert window.ward.tiles[bed.bed_id].name_label.text() == "Window bed"
    assert window.bed_view.bed_combo.currentText() == "Window bed"
    saved = json.loads(beds_path().read_text())["beds"]
    assert [(b["name"], b["alarms"]["threshold"]) for b in saved] == [("Window bed", 4.0)]

    qtbot.waitUntil(lambda: len(bed.history) >= 2, timeout=LIVE_TIMEOUT_MS)  # gaps: no model here
    dialog = window.edit_bed(bed.bed_id)
    assert dialog.patient_edit.isReadOnly()  # a bed's patient changes by Admit… / Discharge
    dialog.reject()
    window.bed_view.admit("CD")
    assert bed.config.patient == "CD" and len(bed.history) == 0  # a new patient: a clean curve

    dialog = window.add_bed()
    dialog.name_edit.setText("window bed")  # names are unique, whatever the case
    dialog.accept()
    assert "already called" in dialog.error_label.text() and dialog.isVisible()
    dialog.reject()

    # removing asks first, saying what happens to the bed's records; Cancel keeps the bed
    question = answer_message_box("Cancel")
    dialog = window.edit_bed(bed.bed_id)
    dialog.remove_button.click()
    assert question[0] == "Remove Window bed? Monitoring and alarms stop for this bed."
    assert "session is ended and kept in the record" in question[1] and "recordings are kept" in question[1]
    assert dialog.isVisible() and window.monitor.beds == [bed] and len(load_beds()) == 1
    answer_message_box("Yes")
    dialog.remove_button.click()
    assert window.monitor.beds == [] and window.ward.tiles == {} and load_beds() == []
    window.monitor.record.flush()
    with RecordReader() as reader:
        assert [(s.patient, s.discharged_at is not None) for s in reader.stays()] == [("CD", True)]


def test_killing_the_app_keeps_every_sample_older_than_a_second(tmp_path: Path):
    save_settings(MonitorSettings(model_path=str(tmp_path / "none.safetensors")))  # every frame a sample
    app = subprocess.Popen([sys.executable, "-m", "app"], env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and recorded_samples() < 15:  # the first-start bed, 15 fps
            time.sleep(0.2)
        time.sleep(1.0)
        killed_at = time.time()
    finally:
        app.kill()  # SIGKILL: no clean-up of any kind
        app.wait(30)
    with RecordReader(record_path()) as reader:
        [session] = reader.sessions()
        samples = reader.samples(session.id)
    assert session.ended_at is None  # it never ended: the process died
    assert len(samples) >= 15 and samples.t[-1] >= killed_at - 1.0
    assert np.all(np.diff(samples.t) < 0.5)  # and no stretch is missing before that
