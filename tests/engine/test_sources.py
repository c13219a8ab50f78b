"""Video sources on real clips, real damaged files, a real local HTTP stream and absent cameras."""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.errors import VideoSourceError
from engine.sources import open_source


def cut(source: Path, target: Path, fraction: float) -> Path:
    """Write the first `fraction` of a file's bytes, as a broken download or full disk would."""
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


@pytest.fixture
def http_clips(clips_dir: Path) -> Iterator[str]:
    """Base URL of a real HTTP server on localhost that serves the clips folder."""
    handler = functools.partial(QuietHandler, directory=str(clips_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_file_yields_every_frame_with_index_and_presentation_time(clips_dir: Path):
    with open_source(clips_dir / "single_face.mp4") as source:
        assert (source.kind, source.fps, source.frame_count, source.size) == ("file", 30.0, 72, (640, 360))
        assert not source.is_live
        frames = list(source)
        assert source.early_end is None
    assert [f.index for f in frames] == list(range(72))
    times = np.array([f.timestamp for f in frames])
    np.testing.assert_allclose(times, np.arange(72) / 30.0, atol=1e-6)
    assert all(f.image.shape == (360, 640, 3) and f.image.dtype == np.uint8 for f in frames)


def test_read_returns_frames_then_none(clips_dir: Path):
    with open_source(str(clips_dir / "single_face.mp4")) as source:
        first = source.read()
        assert first is not None and first.index == 0 and first.timestamp == 0.0
        assert not source.finished
        while source.read() is not None:
            pass
        assert source.finished and source.frames_read == 72
        assert source.read() is None


def test_mov_with_other_frame_rate(clips_dir: Path):
    with open_source(clips_dir / "face_noface.mov") as source:
        count = sum(1 for _ in source)
        assert source.size == (960, 540)
        assert count == source.frame_count and source.early_end is None


def test_an_mp4_whose_start_an_edit_list_trims_is_complete_not_damaged(clips_dir: Path):
    # no_face.mp4's edit list starts its video 3 frames in: the decoder shows 95 of the 98 frames it holds.
    with open_source(clips_dir / "no_face.mp4") as source:
        frames = list(source)
        assert (len(frames), source.frame_count) == (95, 98)
        assert source.early_end is None


@pytest.mark.parametrize("name", ["face.jpg", "face.png", "face.mp4", "face"])
def test_a_still_image_is_one_frame_whatever_its_name(clips_dir: Path, tmp_path: Path, name: str):
    photo = cv2.imread(str(clips_dir / "single_face.jpg"))
    path = tmp_path / name
    if name.endswith(".png"):
        cv2.imwrite(str(path), photo)  # lossless: the same pixels
    else:
        shutil.copyfile(clips_dir / "single_face.jpg", path)
    with open_source(path) as source:
        assert (source.kind, source.is_live, source.frame_count) == ("file", False, 1)
        assert source.size == (photo.shape[1], photo.shape[0])
        frames = list(source)
        assert source.early_end is None
    assert [(f.index, f.timestamp) for f in frames] == [(0, 0.0)]
    np.testing.assert_array_equal(frames[0].image, photo)


def test_paths_that_are_not_videos(tmp_path: Path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    cases = {tmp_path / "absent.mp4": "no such file", tmp_path: "is a folder",
             tmp_path / "empty.mp4": "file is empty"}
    for path, reason in cases.items():
        with pytest.raises(VideoSourceError, match=reason) as error:
            open_source(path)
        assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


def test_random_bytes_are_not_a_video(tmp_path: Path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).bytes(200_000))
    with pytest.raises(VideoSourceError, match=r"noise\.mp4: not a video file"):
        open_source(path)


def test_mp4_cut_before_its_index_cannot_be_opened(clips_dir: Path, tmp_path: Path):
    # single_face.mp4 keeps its 'moov' index at the end: half the file has frames but no index.
    path = cut(clips_dir / "single_face.mp4", tmp_path / "half.mp4", 0.5)
    with pytest.raises(VideoSourceError, match=r"truncated .*'mdat'.*'moov' box\) is missing") as error:
        open_source(path)
    assert "\n" not in str(error.value)


def test_mp4_cut_after_its_index_yields_the_frames_before_the_cut(clips_dir: Path, tmp_path: Path):
    # WolfgangLanger_Pexels.mp4 has its index first: the frames before the cut still decode.
    path = cut(clips_dir / "WolfgangLanger_Pexels.mp4", tmp_path / "half.mp4", 0.5)
    with open_source(path) as source:
        assert source.frame_count == 472
        assert source.early_end is None  # not known before the end
        frames = list(source)
        assert 150 < len(frames) < 300
        assert [f.index for f in frames] == list(range(len(frames)))
        message = source.early_end
    assert message is not None and "truncated" in message
    assert f"only {len(frames)} of 472 frames" in message


def test_absent_camera_is_a_clear_error():
    # No camera is attached to this machine, and index 99 is never one.
    for spec in (99, "99"):
        with pytest.raises(VideoSourceError, match="camera 99 is not available"):
            open_source(spec)


def test_url_stream_over_real_http(http_clips: str):
    # WolfgangLanger_Pexels.mp4 streams without seeking (index first), as a web server would serve it.
    with open_source(f"{http_clips}/WolfgangLanger_Pexels.mp4") as source:
        assert source.kind == "url" and source.frame_count == 472
        frames = list(source)
        assert source.early_end is None
    assert len(frames) == 472
    assert frames[-1].timestamp == pytest.approx(471 / source.fps, abs=1e-3)


def test_unreachable_url_is_a_clear_error(http_clips: str):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for url in (f"http://127.0.0.1:{port}/clip.mp4", f"{http_clips}/not_there.mp4"):
        with pytest.raises(VideoSourceError, match="cannot open stream"):
            open_source(url)


def test_simulated_patient_is_a_live_source_paced_like_a_camera():
    with open_source("simulated:7") as source:
        assert (source.kind, source.is_live, source.fps, source.size) == ("simulated", True, 15.0, (640, 360))
        frames = [source.read() for _ in range(4)]
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert all(f.image.shape == (360, 640, 3) and f.image.dtype == np.uint8 for f in frames)
    assert frames[-1].timestamp - frames[0].timestamp >= 3 / 15 - 0.02  # real-time pacing
    with open_source("simulated:7") as again:
        np.testing.assert_array_equal(again.read().image, frames[0].image)  # deterministic from the seed


def test_simulated_patient_with_a_bad_seed_is_a_clear_error():
    with pytest.raises(VideoSourceError, match="seed must be a whole number"):
        open_source("simulated:abc")
