"""The live monitor when things fail (pytest-qt, offscreen, real sources, record and files; the app itself in
a subprocess where a signal or a start-up matters): one bad value never stops the ward, damaged files at start
are set aside and said in a banner, SIGTERM closes cleanly, a kill -9 loses at most ~2 s of recorded video,
a record or a disk that refuses writes is a technical alarm, patient data stays private, and a stalled stream
is lost at once without flapping.

No model runs here (its file is missing, and the demo model is not offered in its place): every frame still
becomes a sample, which is all these need. The app in a subprocess falls back to the demo model.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from app import video_recording
from app.alarms import AlarmConfig, AlarmKind, BedAlarms, Transition
from app.beds import BedConfig, Source, beds_path, default_beds, load_beds
from app.main_window import MainWindow
from app.monitor import STALE_AFTER_S, Monitor
from app.record import AnnotationKind, RecordReader, record_path
from app.record_writer import MAX_TEXT_LENGTH, RecordWriter
from app.replay.recordings import read_times, recordings_of
from app.replay.view import ReplayView
from app.settings import MonitorSettings, save_settings, settings_path
from app.video_recording import TIMES_SUFFIX
from engine.paths import data_dir
from engine.status import FrameStatus
from tests.helpers import (
    LIVE_TIMEOUT_MS,
    T0,
    recorded_samples,
    run_until_recorded,
    show,
    write_session,
)

Window = Callable[..., MainWindow]
RECORDED = "0123456789ab"


pytestmark = pytest.mark.usefixtures("no_model")


def bed(bed_id: str, name: str, **fields: object) -> dict[str, object]:
    """A simulated-patient bed as beds.json holds it."""
    return {"id": bed_id, "name": name, "source": {"kind": "simulated", "seed": 1}, **fields}


def write_ward(*beds: dict[str, object]) -> None:
    beds_path().write_text(json.dumps({"version": 1, "beds": list(beds)}), encoding="utf-8")


# -- one bad value ------------------------------------------------------------------------------------------
def test_a_lone_surrogate_in_a_patient_label_never_stops_the_ward(qtbot, open_window: Window) -> None:
    """"\\ud800" is valid JSON but not text: it used to kill the record writer, freezing every bed."""
    write_ward(bed("0123456789ab", "Bed 1", patient="\ud800"), bed("0123456789ac", "Bed 2", patient="P-2"))
    window = open_window()
    beds = window.monitor.beds
    qtbot.waitUntil(lambda: all(len(b.history) >= 20 for b in beds), timeout=LIVE_TIMEOUT_MS)
    assert window.monitor.notices == [] and beds[0].config.patient == "\ufffd"
    window.close_without_asking()
    with RecordReader() as reader:
        sessions = reader.sessions()
        assert {s.bed_id: s.patient for s in sessions} == {"0123456789ab": "\ufffd", "0123456789ac": "P-2"}
        assert all(s.ended_at is not None and len(reader.samples(s.id)) >= 20 for s in sessions)


def test_a_write_the_record_refuses_is_a_technical_alarm_on_its_bed_and_the_ward_goes_on(
        qtbot, open_window: Window) -> None:
    window = open_window(beds=[BedConfig("Bed 1", Source.simulated(1)),
                               BedConfig("Bed 2", Source.simulated(2))])
    first, second = window.monitor.beds
    qtbot.waitUntil(lambda: len(first.history) >= 5 and len(second.history) >= 5, timeout=LIVE_TIMEOUT_MS)
    refused_at = window.monitor.annotate(first.bed_id, AnnotationKind.NOTE, "x" * (MAX_TEXT_LENGTH + 1))
    qtbot.waitUntil(lambda: first.alarms.has(AlarmKind.RECORD_ERROR), timeout=10_000)
    [alarm] = [a for a in first.alarms.alarms if a.kind is AlarmKind.RECORD_ERROR]
    assert alarm.message.startswith("Record: annotation not recorded: ValueError: text is longer than")
    assert not second.alarms.has(AlarmKind.RECORD_ERROR)
    assert ("Bed 1", "record error", "low", "raised") in [row[1:5] for row in window.alarm_log.rows()]
    count = len(first.history)
    qtbot.waitUntil(lambda: len(first.history) >= count + 10, timeout=LIVE_TIMEOUT_MS)  # monitoring goes on
    window.monitor.record.flush()
    with RecordReader() as reader:
        [session] = reader.sessions(first.bed_id)
        assert (reader.samples(session.id).t > refused_at).sum() >= 10  # recording goes on too
        assert [a.kind for a in reader.alarms(session.id)] == [AlarmKind.MODEL_ERROR, AlarmKind.RECORD_ERROR]
        assert reader.annotations(session.id) == []


# -- damaged files at start-up ------------------------------------------------------------------------------
def test_damaged_bed_and_settings_files_are_set_aside_and_said_in_a_banner(
        qtbot, open_window: Window, tmp_path: Path) -> None:
    write_ward(bed("0123456789ab", "Bed 1"), {"name": "Bed 2", "source": {"kind": "webcam"}})
    damaged_beds = beds_path().read_text()
    settings_path().write_text(json.dumps({"model_path": str(tmp_path / "none.safetensors"),
                                           "backend": "quantum", "audible": "yes"}))
    window = open_window()
    assert window.notice_banner.isVisible()
    text = window.notice_label.text()
    assert "The bed configuration could not be used" in text and "source kind must be one of" in text
    assert "The settings could not be used" in text and "audible must be bool" in text
    [beds_aside] = data_dir().glob("beds.json.damaged-*")
    [settings_aside] = data_dir().glob("settings.json.damaged-*")
    assert beds_aside.name in text and settings_aside.name in text and beds_aside.read_text() == damaged_beds
    assert [b.config.name for b in window.monitor.beds] == ["Bed 1"] == [b.name for b in load_beds()]
    settings = window.monitor.settings
    assert (settings.model_path, settings.backend, settings.audible) == (str(tmp_path / "none.safetensors"),
                                                                         "auto", True)
    qtbot.waitUntil(lambda: len(window.monitor.beds[0].history) >= 3, timeout=LIVE_TIMEOUT_MS)
    qtbot.mouseClick(window.notice_dismiss, Qt.MouseButton.LeftButton)
    assert not window.notice_banner.isVisible()


def damage_samples(path: Path) -> None:
    """Overwrite the cell pointers of the samples table's root page, as a failing disk would."""
    with sqlite3.connect(path) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        [root] = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'samples'").fetchone()
    db.close()
    data = bytearray(path.read_bytes())
    start = (root - 1) * page_size + 8
    data[start:start + 400] = b"\xff" * 400
    path.write_bytes(bytes(data))


def test_a_record_with_damaged_pages_is_set_aside_untouched_and_a_new_one_written(
        qtbot, open_window: Window) -> None:
    write_session(record_path())
    damage_samples(record_path())
    damaged = record_path().read_bytes()
    window = open_window()
    [aside] = [path for path in data_dir().glob("record.sqlite.damaged-*")
               if not path.name.endswith(("-wal", "-shm"))]  # SQLite's files beside it move with it
    assert aside.read_bytes() == damaged  # never written into
    text = window.notice_label.text()
    assert "The record could not be used" in text and "is damaged" in text and aside.name in text
    qtbot.waitUntil(lambda: recorded_samples() >= 10, timeout=LIVE_TIMEOUT_MS)
    window.close_without_asking()
    with sqlite3.connect(record_path()) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    with RecordReader() as reader:
        [session] = reader.sessions()
        assert session.ended_at is not None and len(reader.samples(session.id)) >= 10


# -- the app in a subprocess: start-up and signals ----------------------------------------------------------
def test_sigterm_closes_the_app_cleanly_ending_its_sessions(launch) -> None:
    app = launch()
    run_until_recorded(app, 15)
    app.send_signal(signal.SIGTERM)  # logout, shutdown, systemctl stop
    assert app.wait(60) == 0
    with RecordReader() as reader:
        [session] = reader.sessions()
        samples = reader.samples(session.id)
    assert session.ended_at is not None and session.ended_at >= samples.t[-1]
    assert len(samples) >= 15


def test_a_binary_ward_file_no_longer_stops_the_app(launch) -> None:
    """It used to exit 3 with no path; now the ward starts with the defaults and the file is kept aside."""
    junk = bytes(range(256)) * 4
    beds_path().write_bytes(junk)
    app = launch()
    run_until_recorded(app, 5)
    app.send_signal(signal.SIGTERM)
    assert app.wait(60) == 0
    [aside] = data_dir().glob("beds.json.damaged-*")
    assert aside.read_bytes() == junk
    assert [(b.name, b.source) for b in load_beds()] == [(b.name, b.source) for b in default_beds()]


def test_after_a_kill_9_the_recorded_video_replays_in_step_with_the_curve_to_2_s_before_it(
        qtbot, launch) -> None:
    write_ward(bed(RECORDED, "Bed 1", record_video=True))
    app = launch()
    run_until_recorded(app, 90)
    killed_at = time.time()
    app.kill()  # kill -9: nothing is closed or flushed
    app.wait(30)
    with RecordReader() as reader:
        [session] = reader.sessions()
    view = show(qtbot, ReplayView(), 1000, 800)
    with qtbot.waitSignal(view.loaded, timeout=10_000):
        view.open_session(session.id)
    assert view.frame_view.isVisible() and "recorded video" in view.title.text()
    [recording] = recordings_of(data_dir("video"), RECORDED, 0.0, np.inf)
    capture = cv2.VideoCapture(str(recording.video))
    played = []  # the recording decoded from start to end: what replay must show, frame by frame
    while (frame := capture.read()[1]) is not None:
        played.append(frame)
    capture.release()
    assert killed_at - recording.times[len(played) - 1] <= 2.0  # at most ~2 s lost
    t = view.record.table.t
    shown = [i for i in range(len(t)) if np.abs(recording.times[: len(played)] - t[i]).min() < 1e-6]
    assert len(shown) >= 0.9 * len(t[t <= recording.times[len(played) - 1]])  # each sample has its frame
    for index in [*shown[:: max(1, len(shown) // 12)], shown[-1], shown[0]]:  # across the session and back
        view.playback.seek(index)
        frame = int(np.abs(recording.times - t[index]).argmin())  # captured with this very sample
        assert np.array_equal(view.playback.frame, played[frame]), (index, frame)
        assert view.curve.cursor_time() == t[index]
    assert t[shown[-1]] >= killed_at - 2.0


def test_sessions_a_kill_left_open_are_ended_at_their_last_sample_at_the_next_start(qapp) -> None:
    alarms = BedAlarms(AlarmConfig(threshold=3.0, delay_s=0.0), bed="Bed 1")
    with RecordWriter(record_path()) as writer:  # a run that was killed: no session end, an alarm still on
        session = writer.start_session(RECORDED, "Bed 1", source="camera 0", started_at=T0)
        for i in range(20):
            writer.add_sample(session, T0 + i, 4.0, FrameStatus.OK)
            for event in alarms.update(T0 + i, 4.0):
                writer.add_alarm_event(session, event)
    monitor = Monitor(fallback_model=None)
    try:
        assert any("did not close properly last time" in n and "Bed 1" in n for n in monitor.notices)
        monitor.record.flush()
        with RecordReader() as reader:
            [ended] = reader.sessions()
            [alarm] = reader.alarms(session)
        assert ended.ended_at == T0 + 19 and alarm.cleared_at == T0 + 19  # not "0 min", not still on
    finally:
        monitor.close()
    again = Monitor(fallback_model=None)  # closed properly this time: nothing to say
    again.close()
    assert not any("did not close properly" in n for n in again.notices)


def test_a_record_that_cannot_be_written_is_a_technical_alarm_on_every_bed_and_loses_nothing(
        qtbot, open_window: Window) -> None:
    window = open_window(beds=[BedConfig(f"Bed {i}", Source.simulated(i)) for i in (1, 2)])
    beds = window.monitor.beds
    qtbot.waitUntil(lambda: all(len(b.history) >= 5 for b in beds), timeout=LIVE_TIMEOUT_MS)
    other = sqlite3.connect(record_path(), timeout=0, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another program holds the write lock, as a full disk stops writes
    locked_at = time.time()
    qtbot.waitUntil(lambda: all(b.alarms.has(AlarmKind.RECORD_ERROR) for b in beds), timeout=15_000)
    [alarm] = [a for a in beds[1].alarms.alarms if a.kind is AlarmKind.RECORD_ERROR]
    assert alarm.message.startswith("cannot write the record") and "locked" in alarm.message
    counts = [len(b.history) for b in beds]
    qtbot.waitUntil(lambda: all(len(b.history) >= c + 10 for b, c in zip(beds, counts, strict=True)),
                    timeout=LIVE_TIMEOUT_MS)  # monitoring goes on
    other.execute("ROLLBACK")
    other.close()
    unlocked_at = time.time()
    qtbot.waitUntil(lambda: not any(b.alarms.has(AlarmKind.RECORD_ERROR) for b in beds), timeout=15_000)
    window.monitor.record.flush()
    with RecordReader() as reader:
        for runtime in beds:
            [session] = reader.sessions(runtime.bed_id)
            t = reader.samples(session.id).t
            assert ((t > locked_at) & (t < unlocked_at)).sum() >= 10  # kept while locked, written after
            assert AlarmKind.RECORD_ERROR in [a.kind for a in reader.alarms(session.id)]


def test_video_recording_stopped_by_a_full_disk_is_a_technical_alarm_and_resumes(
        qtbot, open_window: Window, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video_recording, "RESUME_CHECK_S", 0.5)
    window = open_window(beds=[BedConfig("Bed 1", Source.simulated(1), record_video=True)])
    [runtime] = window.monitor.beds
    qtbot.waitUntil(lambda: runtime.capture is not None and runtime.capture.recorder is not None
                    and runtime.capture.recorder.written >= 10, timeout=LIVE_TIMEOUT_MS)
    recorder = runtime.capture.recorder
    recorder.min_free_bytes = 1 << 62  # more than this disk has free: as a full disk looks
    qtbot.waitUntil(lambda: runtime.alarms.has(AlarmKind.VIDEO_ERROR), timeout=10_000)
    [alarm] = [a for a in runtime.alarms.alarms if a.kind is AlarmKind.VIDEO_ERROR]
    assert alarm.message.startswith("Video recording stopped:") and "MiB free" in alarm.message
    count, written = len(runtime.history), recorder.written
    qtbot.waitUntil(lambda: len(runtime.history) >= count + 15, timeout=LIVE_TIMEOUT_MS)  # monitoring goes on
    assert recorder.written <= written + 1
    recorder.min_free_bytes = 0  # space is freed
    qtbot.waitUntil(lambda: not runtime.alarms.has(AlarmKind.VIDEO_ERROR), timeout=10_000)
    qtbot.waitUntil(lambda: recorder.written >= written + 10, timeout=10_000)
    window.close_without_asking()
    assert len(recorder.paths) == 2 and all(len(read_times(p.with_name(p.stem + TIMES_SUFFIX))) >= 10
                                            for p in recorder.paths)
    events = [row[1:5] for row in window.alarm_log.rows()]
    assert ("Bed 1", "video recording stopped", "low", "cleared") in events


# -- patient data private -----------------------------------------------------------------------------------
def modes(root: Path) -> dict[str, int]:
    """Permission bits of a folder and of everything in it, by path relative to it ('.' for itself)."""
    return {str(path.relative_to(root)): stat.S_IMODE(path.stat().st_mode)
            for path in [root, *root.rglob("*")]}


def assert_private(root: Path) -> dict[str, int]:
    found = modes(root)
    assert {path: mode for path, mode in found.items()
            if mode != (0o700 if (root / path).is_dir() else 0o600)} == {}
    return found


def test_patient_data_is_private_on_a_fresh_start_and_after_a_recording(qtbot, open_window: Window) -> None:
    root = data_dir()
    window = open_window(beds=[BedConfig("Bed 1", Source.simulated(1), patient="P-1", record_video=True)])
    qtbot.waitUntil(lambda: recorded_samples() >= 15, timeout=LIVE_TIMEOUT_MS)
    while_running = assert_private(root)
    assert {"beds.json", "settings.json", "record.sqlite", "record.sqlite-wal", "record.sqlite-shm",
            "video"} <= set(while_running)
    window.close_without_asking()  # the recording is finished and the record closed
    after = assert_private(root)
    assert sorted(Path(p).suffix for p in after if p.startswith("video/")) == [".csv", ".mp4"]


def test_existing_patient_data_is_made_private_at_start(qapp) -> None:
    root = data_dir()
    root.chmod(0o755)
    write_session(record_path())
    (root / "video").mkdir(mode=0o755)
    for path in (record_path(), root / "video" / "old.mp4", settings_path()):
        path.touch()
        path.chmod(0o644)
    Monitor().close()
    assert_private(root)


def test_a_bed_id_naming_a_path_never_writes_outside_the_data_folder(
        qtbot, open_window: Window, tmp_path: Path) -> None:
    outside = data_dir().parent
    write_ward(bed("../../escaped", "Bed 1", record_video=True),
               bed("0123456789ab", "Bed 2", record_video=True))
    window = open_window()
    assert "bed id must be 12 lowercase hex digits" in window.notice_label.text()
    assert [b.config.name for b in window.monitor.beds] == ["Bed 2"]
    qtbot.waitUntil(lambda: recorded_samples() >= 10, timeout=LIVE_TIMEOUT_MS)
    window.close_without_asking()
    assert [p for p in outside.rglob("*escaped*")] == []
    assert [p.name.split("_")[0] for p in (data_dir() / "video").iterdir()] == ["0123456789ab"] * 2


def test_data_retention_deletes_old_sessions_and_recordings_at_start(qapp, tmp_path: Path) -> None:
    write_session(record_path())  # in 2025, long ago
    video = data_dir("video")
    old, new = video / "0123456789ab_old.mp4", video / "0123456789ab_new.mp4"
    for path in (old, new):
        path.write_bytes(b"video")
    os.utime(old, (time.time() - 40 * 86_400,) * 2)
    Monitor().close()  # retention off (the default): everything kept
    with RecordReader() as reader:
        assert len(reader.sessions()) == 1
    save_settings(MonitorSettings(model_path=str(tmp_path / "none.safetensors"), retention_days=30))
    monitor = Monitor()
    monitor.close()
    with RecordReader() as reader:
        assert reader.sessions() == []
    assert sorted(video.iterdir()) == [new]


# -- a stalled stream ---------------------------------------------------------------------------------------
JPEG = cv2.imencode(".jpg", np.full((120, 160, 3), 128, np.uint8))[1].tobytes()


class StallingStream(BaseHTTPRequestHandler):
    """An MJPEG camera over HTTP at 15 fps. Its first connection sends 1.5 s of frames and then nothing, the
    connection left open (a stalled stream); its second sends 1 s and closes; later ones keep sending."""

    connections = 0
    stalled_at = 0.0
    stop = threading.Event()

    def do_GET(self) -> None:
        cls = type(self)
        cls.connections += 1
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        seconds = {1: 1.5, 2: 1.0}.get(cls.connections, 600.0)
        end = time.monotonic() + seconds
        while time.monotonic() < end and not cls.stop.is_set():
            self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                             % (len(JPEG), JPEG))
            self.wfile.flush()
            cls.stalled_at = time.time()
            time.sleep(1 / 15)
        if cls.connections == 1:
            cls.stop.wait(60)  # the stall: open, silent

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def stalling_stream() -> Iterator[str]:
    """The URL of a `StallingStream` served from this process."""
    StallingStream.connections, StallingStream.stop = 0, threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), StallingStream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/stream.mjpg"
    StallingStream.stop.set()
    server.shutdown()
    server.server_close()


def test_a_stalled_stream_is_lost_at_once_and_its_alarm_does_not_flap(
        qtbot, open_window: Window, stalling_stream: str) -> None:
    window = open_window(beds=[BedConfig("Stream bed", Source.url(stalling_stream))])
    runtime = window.monitor.beds[0]
    tile = window.ward.tiles[runtime.bed_id]

    def camera_lost() -> list[Transition]:
        return [e.event.transition for e in window.monitor.alarm_log if e.event.kind is AlarmKind.CAMERA_LOST]

    qtbot.waitUntil(lambda: camera_lost() == [Transition.RAISED], timeout=LIVE_TIMEOUT_MS)
    stalled_at = StallingStream.stalled_at
    [raised] = [e.event for e in window.monitor.alarm_log if e.event.kind is AlarmKind.CAMERA_LOST]
    assert StallingStream.connections == 1 and raised.message == f"No frames for {STALE_AFTER_S:g} s"
    assert raised.t - stalled_at < STALE_AFTER_S + 1.5  # at once, not at the stream's 10 s read timeout
    qtbot.waitUntil(lambda: tile.thumbnail.text() == "no video", timeout=5000)  # no frozen face or score
    assert tile.score_label.text() == "—" and runtime.latest is None

    # the read times out, a reconnect sends 1 s and closes, the next one keeps sending: the alarm stays
    # raised through the short flow and clears once frames have flowed for a few seconds
    qtbot.waitUntil(lambda: camera_lost() == [Transition.RAISED, Transition.CLEARED], timeout=LIVE_TIMEOUT_MS)
    assert StallingStream.connections == 3 and runtime.source_ok
    window.monitor.record.flush()
    with RecordReader() as reader:
        [session] = reader.sessions()
        samples = reader.samples(session.id)
    gaps = samples.t[samples.status == FrameStatus.CAMERA_LOST]
    assert len(gaps) >= 1 and abs(gaps[0] - raised.t) < 0.5
