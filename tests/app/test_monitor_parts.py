"""The live monitor's parts on their own: the newest-frame mailbox, the alarm burst, the face overlay, the bed
dialog's checks, the inference worker without a usable model (video recording: test_video_recording.py)."""

from __future__ import annotations

import threading
import wave
from pathlib import Path

import numpy as np
import pytest

from app.alarm_sound import PULSE, SAMPLE_RATE, write_burst
from app.alarms import AlarmConfig
from app.bed_dialog import BedDialog
from app.beds import BedConfig, Source, SourceKind
from app.settings import MonitorSettings
from app.widgets.image import SCORED_COLOUR, draw_face
from app.workers import FrameSlots, InferenceWorker, Results, model_failure, start_worker
from engine.paths import DEMO_MODEL
from engine.status import FrameStatus
from tests.helpers import answer_message_box


def test_frame_slots_keep_only_the_newest_frame_per_bed_and_count_the_rest():
    slots = FrameSlots()
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(5)]
    for i, frame in enumerate(frames):
        slots.put("a", frame, float(i))
    slots.put("b", frames[0], 0.5)
    taken = {f.bed_id: f for f in slots.take(timeout=0)}
    assert set(taken) == {"a", "b"}
    assert taken["a"].index == 4 and taken["a"].t == 4.0 and taken["a"].image is frames[4]
    assert slots.counts("a") == (5, 4) and slots.counts("b") == (1, 0)
    assert slots.take(timeout=0) == []
    slots.put("a", frames[0], 5.0)
    slots.discard("a")
    assert slots.take(timeout=0) == [] and slots.counts("a") == (6, 4)


def test_frame_slots_wake_a_waiting_taker():
    slots = FrameSlots()
    got: list = []
    taker = threading.Thread(target=lambda: got.extend(slots.take(timeout=30)))
    taker.start()
    slots.put("a", np.zeros((2, 2, 3), np.uint8), 1.0)
    taker.join(10)
    assert [f.bed_id for f in got] == ["a"]


def test_alarm_burst_is_three_pulses(tmp_path: Path):
    path = write_burst(tmp_path / "burst.wav")
    with wave.open(str(path)) as audio:
        samples = np.frombuffer(audio.readframes(audio.getnframes()), dtype="<i2")
        assert audio.getframerate() == SAMPLE_RATE
    window = SAMPLE_RATE // 100  # 10 ms
    rms = np.sqrt(np.convolve(samples.astype(float) ** 2, np.ones(window) / window, "same"))
    loud = rms > 3000
    assert not loud[0] and int(np.sum(np.diff(loud.astype(int)) == 1)) == 3
    assert len(samples) == pytest.approx(3 * sum(PULSE) * SAMPLE_RATE, abs=3)


def test_face_overlay_marks_the_detected_face(face_frames, detector):
    frame = face_frames[0]
    face = detector.detect(frame)[0]
    drawn = draw_face(frame, face.box, face.landmarks)
    assert np.array_equal(frame, face_frames[0])  # the frame itself is untouched
    x1, y1, x2, _ = (round(float(v)) for v in face.box)
    assert tuple(drawn[y1, (x1 + x2) // 2]) == SCORED_COLOUR  # the box's top edge
    nose = face.landmarks[2].round().astype(int)
    assert tuple(drawn[nose[1], nose[0]]) == SCORED_COLOUR
    assert np.array_equal(draw_face(frame, np.full(4, np.nan), np.full((5, 2), np.nan)), frame)


def test_bed_dialog_explains_invalid_input(qtbot, clips_dir: Path):
    dialog = BedDialog(other_names=["Bed 1"])
    qtbot.addWidget(dialog)
    dialog.open()
    assert not dialog.remove_button.isVisible()  # a bed being added has nothing to remove
    dialog.name_edit.setText("Bed 2")
    dialog.set_source_kind(SourceKind.URL)
    dialog.url_edit.setText("ftp://camera/stream")
    dialog.accept()
    assert dialog.isVisible() and "stream URL must start with rtsp://" in dialog.error_label.text()
    dialog.set_source_kind(SourceKind.CAMERA)
    dialog.camera_combo.setCurrentText("front")
    dialog.accept()
    assert dialog.isVisible() and "camera index must be a whole number" in dialog.error_label.text()
    dialog.camera_combo.setCurrentText("0")
    dialog.name_edit.setText("")
    dialog.accept()
    assert "bed name is empty" in dialog.error_label.text()
    dialog.name_edit.setText("Bed 2")
    dialog.set_source_kind(SourceKind.FILE)
    dialog.file_edit.setText(str(clips_dir / "single_face.mp4") + "\x00")
    dialog.accept()
    assert "source location must be text without control characters" in dialog.error_label.text()
    dialog.file_edit.setText(str(clips_dir / "single_face.mp4"))
    dialog.name_edit.setText(" bed\t1 ")  # another bed's name, but for spacing
    dialog.accept()
    assert "another bed is already called 'bed 1'" in dialog.error_label.text()
    dialog.name_edit.setText("Bed\t 2\x00")
    dialog.patient_edit.setText("P-7\x07\t  b")  # a control character and a tab, pasted
    dialog.accept()
    assert not dialog.isVisible()
    assert dialog.config.source == Source.file(clips_dir / "single_face.mp4")
    assert (dialog.config.name, dialog.config.patient) == ("Bed 2", "P-7 b")
    assert not dialog.config.record_video


def test_edit_dialog_keeps_the_bed_id_and_offers_removal(qtbot):
    bed = BedConfig("Bed 4", Source.camera(2), record_video=True, patient="AB")
    dialog = BedDialog(config=bed)
    qtbot.addWidget(dialog)
    assert dialog.source_kind is SourceKind.CAMERA and dialog.camera_combo.currentText() == "2"
    assert dialog.record_check.isChecked() and not dialog.remove_button.isHidden()
    dialog.threshold_spin.setValue(4.5)
    assert dialog.build_config() == BedConfig("Bed 4", Source.camera(2), AlarmConfig(threshold=4.5),
                                              record_video=True, patient="AB", bed_id=bed.bed_id)
    dialog.open()
    answer_message_box("Cancel")  # removing asks first; Cancel keeps the dialog open and the bed
    dialog.remove_button.click()
    assert not dialog.remove and dialog.config is None and dialog.isVisible()
    question = answer_message_box("Yes")
    dialog.remove_button.click()
    assert dialog.remove and dialog.config == bed and not dialog.isVisible()
    assert question[0] == "Remove Bed 4? Monitoring and alarms stop for this bed."
    assert question[1].endswith("Data retention is off: they are kept until deleted.")


def test_inference_worker_without_a_usable_model_reports_why_and_keeps_frames_flowing(qtbot, tmp_path: Path):
    damaged = tmp_path / "model.safetensors"
    damaged.write_bytes(b"not a model")
    slots, results = FrameSlots(), Results()
    worker = InferenceWorker(slots, results, MonitorSettings(model_path=str(damaged), backend="onnx"))
    with qtbot.waitSignal(worker.model_loaded, timeout=60_000) as loaded:
        thread = start_worker(worker)
    info = loaded.args[0]
    assert info.card is None and "damaged or not a safetensors file" in info.error
    slots.put("bed", np.zeros((90, 160, 3), np.uint8), 12.5)
    qtbot.waitUntil(lambda: worker.rounds >= 1, timeout=10_000)
    samples, latest = results.drain()
    [sample] = samples["bed"]
    assert sample.status == FrameStatus.MODEL_ERROR
    assert np.isnan(sample.score) and sample.message == info.error
    assert latest["bed"].image.shape == (90, 160, 3)
    worker.stop()
    thread.join(10)
    assert not thread.is_alive()


def test_a_model_is_checked_by_the_self_test_with_one_line_for_a_failure(tmp_path: Path):
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(np.random.default_rng(0).bytes(4096))
    failures = [model_failure(MonitorSettings(model_path=str(path), backend="onnx"))
                for path in (damaged, tmp_path / "gone.safetensors", DEMO_MODEL)]
    assert failures[0] is not None and failures[0].startswith(f"{damaged} is damaged or not a safetensors")
    assert failures[1] == f"model file not found: {tmp_path / 'gone.safetensors'}"
    assert failures[2] is None  # the bundled demo model passes painmon --self-test's check


def test_inference_worker_builds_tensorrt_engines_in_the_background_and_switches_when_ready(
        qtbot, monkeypatch: pytest.MonkeyPatch):
    """On a GPU with TensorRT but no engines for the model yet, the monitor keeps analysing on the current
    backend, builds the engines in the background and reloads the model when they are verified. No GPU or
    TensorRT here: the two engine calls that need them stand in, the worker and its reload are real."""
    from concurrent.futures import Future

    from engine.backends import select
    from engine.tensorrt import engines

    monkeypatch.setattr(select, "tensorrt_unavailable",
                        lambda checkpoint=None, precision="fp16": "no engines yet" if checkpoint else None)
    builds: list[Future] = []

    def build_in_background(checkpoint, precision="fp16", *, on_progress=None, on_done=None):
        builds.append(Future())
        builds[-1].add_done_callback(on_done)
        return builds[-1]

    monkeypatch.setattr(engines, "build_in_background", build_in_background)
    worker = InferenceWorker(FrameSlots(), Results(), MonitorSettings())  # the bundled demo model, auto
    with qtbot.waitSignal(worker.model_loaded, timeout=60_000) as first:
        thread = start_worker(worker)
    assert first.args[0].backend == "onnx" and first.args[0].error is None
    qtbot.waitUntil(lambda: len(builds) == 1, timeout=10_000)
    with qtbot.waitSignal(worker.model_loaded, timeout=60_000):
        builds[0].set_result(object())  # the engines are built and verified: the worker reloads the model
    worker.stop()
    thread.join(10)
    assert not thread.is_alive()
