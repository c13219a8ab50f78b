"""Video recording of a bed on real face frames with the real encoder: every kept frame with its capture time,
playable while written and after a kill -9, private files, the disk guard, and replay of a session with its
recorded video in step with the curve."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from pytestqt.qtbot import QtBot

from app import video_recording
from app.record_writer import RecordWriter
from app.replay.playback import VideoFrames
from app.replay.recordings import MATCH_S, read_times, recordings_of
from app.replay.view import ReplayView
from app.video_recording import KEYFRAME_S, QUEUE_FRAMES, TIMES_SUFFIX, VideoRecorder, recording_stem
from engine.status import FrameStatus
from tests.helpers import ROOT, T0, show

BED = "0123456789ab"


def record(folder: Path, frames: list[np.ndarray], times: list[float], **kwargs: object) -> VideoRecorder:
    """Record frames captured at `times` (waiting for the writer, so none is dropped) and close."""
    recorder = VideoRecorder(folder, BED, 15.0, **kwargs)  # type: ignore[arg-type]
    for frame, t in zip(frames, times, strict=True):
        while recorder._queue.full():
            time.sleep(0.005)
        recorder.add(frame, t)
    recorder.close()
    return recorder


def video_times(path: Path) -> list[float]:
    """Each decoded frame's timestamp (s), read with FFmpeg (PyAV)."""
    with av.open(str(path)) as container:
        return [float(frame.time) for frame in container.decode(video=0) if frame.time is not None]


def grey_frames(n: int, size: tuple[int, int] = (320, 240)) -> list[np.ndarray]:
    """Frames whose grey level says their number (0, 8, 16, …), which survives H.264 within ±3."""
    return [np.full((size[1], size[0], 3), 8 * (i % 30), np.uint8) for i in range(n)]


def level(frame: np.ndarray | None) -> int:
    """The number a grey frame of `grey_frames` shows."""
    assert frame is not None
    return round(float(frame.mean()) / 8)


def test_every_kept_frame_is_recorded_with_its_capture_time(face_frames: list[np.ndarray], tmp_path: Path
                                                            ) -> None:
    times = [T0 + i / 15 + (0.013 if i % 4 == 0 else 0.0) for i in range(len(face_frames))]  # jittery
    recorder = record(tmp_path, face_frames, times)
    [video] = recorder.paths
    assert recorder.problem is None and recorder.written == len(face_frames) and recorder.dropped == 0
    assert read_times(video.with_name(video.stem + TIMES_SUFFIX)) == pytest.approx(times, abs=1e-6)
    assert video_times(video) == pytest.approx([t - times[0] for t in times], abs=1e-3)  # the video's clock
    frames = VideoFrames(video, np.asarray(times) - times[0])  # replay's decoder
    decoded = [frames.read(i) for i in range(len(times))]
    frames.close()
    assert all(f is not None and f.shape == face_frames[0].shape for f in decoded)
    error = [np.abs(f.astype(int) - g.astype(int)).mean() for f, g in zip(decoded, face_frames, strict=True)]
    assert max(error) < 6  # the same face, through a lossy codec


@pytest.mark.parametrize("bed_id", ["../../x", "/etc/cron.d/x", "0123456789ab/../../x", ""])
def test_a_recording_path_never_leaves_its_folder(tmp_path: Path, bed_id: str) -> None:
    with pytest.raises(ValueError, match="not a bed id"):
        recording_stem(tmp_path, bed_id)
    with pytest.raises(ValueError, match="not a bed id"):
        VideoRecorder(tmp_path, bed_id, 15.0)


def test_recordings_are_readable_by_their_owner_only(face_frames: list[np.ndarray], tmp_path: Path) -> None:
    recorder = record(tmp_path, face_frames[:3], [T0, T0 + 0.1, T0 + 0.2])
    [video] = recorder.paths
    assert video.parent == tmp_path and video.name.startswith(BED + "_")
    files = sorted(tmp_path.iterdir())
    assert [p.name for p in files] == [video.name, video.stem + TIMES_SUFFIX]
    assert [stat.S_IMODE(p.stat().st_mode) for p in files] == [0o600] * 2


def test_frames_are_dropped_not_waited_for_when_the_writer_falls_behind(tmp_path: Path) -> None:
    recorder = VideoRecorder(tmp_path, BED, 15.0)
    frame = np.zeros((1080, 1920, 3), np.uint8)
    for i in range(QUEUE_FRAMES * 4):  # far faster than a 1080p encoder
        recorder.add(frame, T0 + i)
    recorder.close()
    assert recorder.dropped > 0 and recorder.written + recorder.dropped == QUEUE_FRAMES * 4
    [video] = recorder.paths
    assert len(read_times(video.with_name(video.stem + TIMES_SUFFIX))) == recorder.written


def test_a_new_frame_size_or_odd_sides_start_a_new_playable_file(tmp_path: Path) -> None:
    frames = grey_frames(5, (320, 240)) + grey_frames(5, (161, 121))  # a camera reconnected at another size
    recorder = record(tmp_path, frames, [T0 + i / 15 for i in range(10)])
    assert len(recorder.paths) == 2 and recorder.problem is None
    with av.open(str(recorder.paths[1])) as container:
        sizes = {(f.width, f.height) for f in container.decode(video=0)}
    assert sizes == {(160, 120)}  # H.264 4:2:0 takes even sides: the odd row and column are left out
    assert [len(video_times(p)) for p in recorder.paths] == [5, 5]


WRITER = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from app.video_recording import VideoRecorder
    recorder = VideoRecorder(__import__("pathlib").Path(sys.argv[1]), "0123456789ab", 15.0)
    start = time.time()
    for i in range(10_000):
        recorder.add(np.full((240, 320, 3), 8 * (i % 30), np.uint8), time.time())
        if time.time() - start > float(sys.argv[2]):
            print(time.time(), flush=True)  # the moment of the kill
            os.kill(os.getpid(), int(sys.argv[3]))
        time.sleep(1 / 15)
    recorder.close()
    print(recorder.problem)
""")


def run_writer(folder: Path, seconds: float, sig: int, preexec_fn: Callable[[], None] | None = None
               ) -> subprocess.CompletedProcess[str]:
    """Record a bed in another process for `seconds`, then send it `sig`; it prints when."""
    return subprocess.run([sys.executable, "-c", WRITER, str(folder), str(seconds), str(sig)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, preexec_fn=preexec_fn)


def test_a_recording_killed_mid_way_plays_up_to_its_last_second(tmp_path: Path) -> None:
    result = run_writer(tmp_path, 6.0, signal.SIGKILL)
    assert result.returncode == -signal.SIGKILL, result.stderr
    killed_at = float(result.stdout.split()[0])
    [recording] = recordings_of(tmp_path, BED, 0.0, np.inf)
    played = video_times(recording.video)
    assert len(played) >= 6 * 15 * 0.8  # about 15 fps for 6 s
    last_played = recording.times[0] + played[-1]
    assert killed_at - last_played <= KEYFRAME_S + 0.5, (killed_at, last_played)
    assert played == pytest.approx(list(recording.times[: len(played)] - recording.times[0]), abs=1e-3)


def test_a_write_the_disk_refuses_stops_recording_and_keeps_the_file_playable(tmp_path: Path) -> None:
    import resource

    def small_files() -> None:  # the kernel refuses to grow any file past 64 KiB, as a full disk would
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, 1 << 16))

    result = run_writer(tmp_path, 20.0, signal.SIGTERM, preexec_fn=small_files)
    assert result.returncode == -signal.SIGTERM and result.stderr == ""
    videos = sorted(tmp_path.glob("*.mp4"))
    assert videos and all(p.stat().st_size <= 1 << 16 for p in videos)
    assert len(video_times(videos[0])) > 15  # what was written before the disk refused still plays


def test_low_disk_space_stops_recording_with_a_problem_and_it_resumes_when_space_returns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video_recording, "SPACE_CHECK_S", 0.0)
    monkeypatch.setattr(video_recording, "RESUME_CHECK_S", 0.0)
    free = {"bytes": 10 << 30}
    recorder = VideoRecorder(tmp_path, BED, 15.0, min_free_bytes=1 << 30, free_space=lambda _: free["bytes"])
    frames = grey_frames(30)

    def feed(first: int, last: int) -> None:
        for i in range(first, last):
            recorder.add(frames[i], T0 + i / 15)
            time.sleep(0.02)
        while not recorder._queue.empty():
            time.sleep(0.01)
        time.sleep(0.1)

    feed(0, 10)
    assert recorder.problem is None and len(recorder.paths) == 1
    free["bytes"] = 200 << 20  # the disk fills up
    feed(10, 20)
    assert recorder.problem is not None
    assert "200 MiB free" in recorder.problem and "under 1024 MiB" in recorder.problem
    free["bytes"] = 5 << 30  # space is freed
    feed(20, 30)
    recorder.close()
    assert recorder.problem is None and len(recorder.paths) == 2
    first, second = (video_times(p) for p in recorder.paths)
    assert len(first) == 10 and len(second) == 10  # nothing written while space was short


def test_a_folder_that_goes_away_stops_recording_with_a_problem_not_a_dead_thread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video_recording, "SPACE_CHECK_S", 0.0)
    monkeypatch.setattr(video_recording, "RESUME_CHECK_S", 0.0)
    folder = tmp_path / "video"
    recorder = VideoRecorder(folder, BED, 15.0, min_free_bytes=0)
    recorder.add(grey_frames(1)[0], T0)
    while recorder.written < 1:
        time.sleep(0.01)
    for path in folder.iterdir():  # the data folder is deleted under the running app
        path.unlink()
    folder.rmdir()
    recorder.add(grey_frames(1)[0], T0 + 0.1)
    deadline = time.monotonic() + 10
    while recorder.problem is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert recorder.problem is not None and "cannot check the free space" in recorder.problem
    folder.mkdir()  # back: recording resumes in a new file
    for i in range(2, 6):
        recorder.add(grey_frames(1)[0], T0 + i / 10)
        time.sleep(0.05)
    recorder.close()
    assert recorder.problem is None and recorder.paths[-1].parent == folder and recorder.paths[-1].exists()


# -- replay of a session with its recorded video ------------------------------------------------------------
def test_a_session_replays_with_its_recorded_video_in_step_with_the_curve(qtbot: QtBot, tmp_path: Path
                                                                           ) -> None:
    video = tmp_path / "video"
    frame_times = [T0 + i / 15 for i in range(60)]  # 4 s of video, then none
    record(video, grey_frames(60), frame_times)
    sample_times = [*frame_times[::3], T0 + 4.0 + MATCH_S + 2.0]  # every third frame, one past the video
    db = tmp_path / "record.sqlite"
    with RecordWriter(db) as writer:
        session = writer.start_session(BED, "Bed 1", source="camera 0", started_at=T0)
        for t in sample_times:
            writer.add_sample(session, t, 1.0, FrameStatus.OK)
        writer.end_session(session, sample_times[-1])
    view = show(qtbot, ReplayView(record_path=db, video_folder=video), 1000, 800)
    with qtbot.waitSignal(view.loaded, timeout=5000):
        view.open_session(session)
    assert view.frame_view.isVisible() and "recorded video" in view.title.text()
    for index in (0, 7, 19, 5, 12):  # forwards and back
        view.playback.seek(index)
        assert level(view.playback.frame) == (3 * index) % 30, index
        assert view.curve.cursor_time() == pytest.approx(sample_times[index])
    view.playback.seek(len(sample_times) - 1)
    assert view.playback.frame is None  # no frame within MATCH_S: no video shown, said so
    assert view.frame_view.text() == "no video recorded at this moment"
