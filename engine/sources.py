"""Video sources — file, camera index or URL opened with OpenCV, or the simulated patient — with clear errors.

A still image (any format OpenCV reads, told by its content, not its name: a photo renamed .mp4 too) is a
recording of one frame at time 0.

`open_source(spec)` returns a `VideoSource`: iterate it for `Frame(index, timestamp, image)`s (image
BGR uint8), or call `read()` one frame at a time. A source that stops before its end (a truncated file, a
camera that stops delivering) ends iteration normally, so the frames read so far can still be analysed;
`early_end` then says why.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from engine import mp4
from engine.errors import VideoSourceError
from engine.patient_process import RemotePatient

# OpenCV and FFmpeg would print their own multi-line complaints to stderr; the errors below replace them.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
if "OPENCV_LOG_LEVEL" not in os.environ:
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

SIMULATED = "simulated"  # spec prefix of the simulated patient: "simulated" or "simulated:SEED"
STREAM_TIMEOUT_MS = 10_000
# Containers other than MP4/MOV derive their frame count from duration × fps, which can be a frame or two off.
FRAME_COUNT_SLACK = 2


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame: position in the source, time in seconds, BGR uint8 (H, W, 3) image."""

    index: int
    timestamp: float
    image: np.ndarray


class Capture(Protocol):
    """The part of OpenCV's VideoCapture that VideoSource uses (the simulated patient has it too)."""

    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def get(self, prop: int) -> float: ...

    def release(self) -> None: ...


class VideoSource:
    """An opened OpenCV capture. Use `open_source` to make one; close it (or use `with`) when done."""

    def __init__(self, capture: Capture, name: str, kind: str, path: Path | None = None) -> None:
        self._capture = capture
        self.name = name
        self.kind = kind  # "file", "camera", "url" or "simulated"
        self._path = path
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.fps: float | None = fps if fps > 0 else None
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count: int | None = count if count > 0 and kind != "camera" else None
        self.size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.frames_read = 0
        self.finished = False
        self._last_timestamp = -1.0
        self._opened_at = time.monotonic()

    @property
    def is_live(self) -> bool:
        """True for cameras and streams without a known length (timestamps are then wall-clock)."""
        return self.kind == "camera" or self.frame_count is None

    def read(self) -> Frame | None:
        """Decode the next frame, or return None (and mark the source finished) when no more come."""
        if self.finished:
            return None
        ok, image = self._capture.read()
        if not ok or image is None:
            self.finished = True
            return None
        frame = Frame(self.frames_read, self._timestamp(), image)
        self.frames_read += 1
        self._last_timestamp = frame.timestamp
        return frame

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def _timestamp(self) -> float:
        """Presentation time for recorded video, seconds since opening for live sources."""
        if self.is_live:
            return time.monotonic() - self._opened_at
        position = self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if position > self._last_timestamp:
            return position
        return self._last_timestamp + 1.0 / (self.fps or 30.0)  # containers without usable timestamps

    @property
    def early_end(self) -> str | None:
        """After the last frame: why the source ended before its end, or None if it ended normally."""
        if not self.finished:
            return None
        if self.frames_read == 0:
            return f"{self.name}: no frame could be decoded"
        if self.kind == "camera" or self.frame_count is None:
            return f"{self.kind} {self.name} stopped delivering frames after {self.frames_read} frames"
        damage = mp4.damage(self._path) if self._path is not None else None
        expected = self.frame_count
        if damage is None and self._path is not None:  # an edit list may present fewer than the container has
            expected = min(expected, mp4.presented_frames(self._path) or expected)
        if damage is None and self.frames_read < expected - FRAME_COUNT_SLACK:
            damage = "video is damaged"
        if damage is None:
            return None
        return f"{self.name}: {damage}; only {self.frames_read} of {self.frame_count} frames could be read"

    def close(self) -> None:
        """Release the capture (camera devices become free again)."""
        self._capture.release()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(spec: str | int | Path) -> VideoSource:
    """Open a video file (path), camera (index, int or digits), network stream (URL with `://`) or the
    simulated patient ("simulated" or "simulated:SEED", paced like a 15 fps camera).

    Raises VideoSourceError with a one-line reason when the source cannot be opened.
    """
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        return _open_camera(int(spec))
    if isinstance(spec, str) and spec.split(":")[0] == SIMULATED:
        return _open_simulated(spec)
    if isinstance(spec, str) and "://" in spec:
        return _open_url(spec)
    return _open_file(Path(spec))


def _open_camera(index: int) -> VideoSource:
    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        raise VideoSourceError(f"camera {index} is not available (not connected, or used by another program)")
    return VideoSource(capture, str(index), "camera")


class _SimulatedCapture:
    """A live simulated patient (drawn in the renderer process) behind the part of OpenCV's capture
    interface that VideoSource uses."""

    def __init__(self, patient: RemotePatient) -> None:
        self._patient = patient

    def read(self) -> tuple[bool, np.ndarray]:
        return True, self._patient.read()[2]

    def get(self, prop: int) -> float:
        width, height = self._patient.size
        return {cv2.CAP_PROP_FPS: self._patient.fps, cv2.CAP_PROP_FRAME_WIDTH: width,
                cv2.CAP_PROP_FRAME_HEIGHT: height}.get(prop, 0.0)

    def release(self) -> None:
        self._patient.close()


def _open_simulated(spec: str) -> VideoSource:
    _, _, seed = spec.partition(":")
    if seed and not seed.isdigit():
        raise VideoSourceError(f"{spec}: the simulated patient's seed must be a whole number")
    patient = RemotePatient(int(seed or 0))
    return VideoSource(_SimulatedCapture(patient), f"simulated patient {int(seed or 0)}", SIMULATED)


def _open_url(url: str) -> VideoSource:
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
              cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]
    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    if not capture.isOpened():
        raise VideoSourceError(f"cannot open stream {url}: unreachable, refused, or not a video stream")
    return VideoSource(capture, url, "url")


def _open_file(path: Path) -> VideoSource:
    if not path.exists():
        raise VideoSourceError(f"{path}: no such file")
    if path.is_dir():
        raise VideoSourceError(f"{path}: is a folder, not a video file")
    if not os.access(path, os.R_OK):
        raise VideoSourceError(f"{path}: permission denied")
    if path.stat().st_size == 0:
        raise VideoSourceError(f"{path}: file is empty")
    if _is_still_image(path):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise VideoSourceError(f"{path}: the image is damaged (it cannot be decoded)")
        return VideoSource(_StillCapture(image), str(path), "file", path)
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        raise VideoSourceError(f"{path}: {_why_unreadable(path)}")
    return VideoSource(capture, str(path), "file", path)


def _is_still_image(path: Path) -> bool:
    """Whether OpenCV's image readers take the file (by its first bytes) as one picture."""
    try:
        return bool(cv2.haveImageReader(str(path))) and cv2.imcount(str(path)) == 1
    except cv2.error:
        return False


class _StillCapture:
    """A still image behind the part of OpenCV's capture interface that VideoSource uses: one frame."""

    def __init__(self, image: np.ndarray) -> None:
        self._image: np.ndarray | None = image
        self._size = image.shape[1], image.shape[0]

    def read(self) -> tuple[bool, np.ndarray | None]:
        image, self._image = self._image, None
        return image is not None, image

    def get(self, prop: int) -> float:
        width, height = self._size
        return {cv2.CAP_PROP_FRAME_COUNT: 1.0, cv2.CAP_PROP_FRAME_WIDTH: width,
                cv2.CAP_PROP_FRAME_HEIGHT: height}.get(prop, 0.0)

    def release(self) -> None:
        """Nothing to free."""


def _why_unreadable(path: Path) -> str:
    """Best reason for a file that exists but that OpenCV cannot open."""
    if not mp4.is_mp4(path):
        return "not a video file (or in a format OpenCV cannot read)"
    damage = mp4.damage(path) or "MP4/MOV file is damaged"
    if b"moov" not in mp4.top_boxes(path)[0]:
        return f"{damage}; its frame index ('moov' box) is missing, so no frame can be read"
    return damage
