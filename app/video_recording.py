"""Opt-in video recording of one bed: fragmented MP4 files (H.264 through PyAV) with a CSV sidecar giving each
frame's wall-clock capture time, both readable by their owner only (they show a patient).

Crash safety: each file is a fragmented MP4 with a key frame, and so a new fragment, every `KEYFRAME_S`, and
every packet reaches the file as it is made; the sidecar is written line by line. The file plays while it is
being written and, after a crash or kill -9, up to its last complete fragment. (OpenCV's MP4 writer puts the
frame index at the end: unreadable until closed.) Each frame's timestamp in the video is its capture time in
milliseconds since the file's first frame, so the video's own clock matches the curve's.

Frames reach a writer thread through a bounded queue, so a slow disk never slows capture: when the queue is
full the frame is dropped and counted (the sidecar lists only frames written: video and times stay in step).

Disk guard: while free space on the recording's disk is under `min_free_bytes` (checked every second), or
after a write fails, the recorder records nothing and `problem` says why; the file so far stays playable.
It starts a new file when space returns (checked every `RESUME_CHECK_S`).
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import TextIO, cast

import av
import numpy as np

from app.beds import BED_ID
from engine.files import PRIVATE_MODE

QUEUE_FRAMES = 30
CODEC = "libx264"
KEYFRAME_S = 1.0
"""A key frame (and so a new MP4 fragment) this often: at most about this much video is lost in a crash."""
MIN_FREE_BYTES = 1 << 30
"""Recording stops while the disk has less free space than this: room left for the record and the system."""
SPACE_CHECK_S = 1.0
RESUME_CHECK_S = 10.0
MS = Fraction(1, 1000)
TIMES_SUFFIX = ".timestamps.csv"


def recording_stem(folder: Path, bed_id: str) -> Path:
    """Where a new recording of a bed goes: `<folder>/<bed id>_<date>-<time>-<microseconds>`. The id must be
    a bed id (12 hex digits; ValueError otherwise), so the path never leaves `folder`."""
    if not BED_ID.fullmatch(bed_id):
        raise ValueError(f"not a bed id: {bed_id!r}")
    return folder / f"{bed_id}_{datetime.now():%Y%m%d-%H%M%S-%f}"


def free_bytes(folder: Path) -> int:
    """Free space on the disk holding `folder`, in bytes."""
    return shutil.disk_usage(folder).free


def _create_private(path: Path) -> int:
    """Create (or empty) a file readable by its owner only and return its descriptor."""
    return os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, PRIVATE_MODE)


class _Mp4File:
    """One recording file and its sidecar, opened for frames of one size."""

    def __init__(self, stem: Path, fps: float, shape: tuple[int, ...]) -> None:
        self.video_path = stem.with_suffix(".mp4")
        self.times_path = stem.with_name(stem.name + TIMES_SUFFIX)
        self.shape = shape
        self._t0: float | None = None
        self._pts = -1
        self._written = 0
        os.close(_create_private(self.video_path))  # the muxer writes into it and keeps its mode
        self._container = av.open(str(self.video_path), "w", format="mp4", options={
            "movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"})
        try:
            self._times: TextIO = os.fdopen(_create_private(self.times_path), "w", encoding="utf-8",
                                            buffering=1)
            self._times.write("frame,t\n")
        except OSError:
            self._container.close()
            raise
        rate = max(1, round(fps))
        self._stream = cast(av.VideoStream, self._container.add_stream(CODEC, rate=rate, options={
            "preset": "veryfast", "tune": "zerolatency", "crf": "26"}))
        self._stream.width, self._stream.height = shape[1], shape[0]
        self._stream.pix_fmt = "yuv420p"
        self._stream.codec_context.time_base = MS
        self._stream.codec_context.gop_size = max(1, round(rate * KEYFRAME_S))
        self._stream.codec_context.thread_count = 1  # monitoring comes first on a small PC

    def write(self, image: np.ndarray, t: float) -> None:
        """Encode one BGR frame captured at wall-clock time t and note its time."""
        if self._t0 is None:
            self._t0 = t
        self._pts = max(self._pts + 1, round((t - self._t0) * 1000))  # strictly increasing, in ms
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        frame.pts, frame.time_base = self._pts, MS
        self._container.mux(self._stream.encode(frame))
        self._times.write(f"{self._written},{t:.6f}\n")
        self._written += 1

    def close(self) -> None:
        """Finish the video (what the encoder holds) and both files; errors are left to the caller."""
        try:
            self._container.mux(self._stream.encode(None))
        finally:
            try:
                self._container.close()
            finally:
                self._times.close()


class VideoRecorder:
    """Records a bed's frames, given from any one thread through `add`, in files named by `recording_stem`.

    `paths` lists the video files written (a new one after a stop for lack of space or a change of frame
    size); `problem` says why nothing is being recorded now (None while recording works). `close()` writes
    what is queued and finishes the file.
    """

    def __init__(self, folder: Path, bed_id: str, fps: float, *, min_free_bytes: int = MIN_FREE_BYTES,
                 free_space: Callable[[Path], int] = free_bytes) -> None:
        recording_stem(folder, bed_id)  # refuses a bed id that is not one, before any thread starts
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.bed_id, self.fps = folder, bed_id, fps
        self.min_free_bytes = min_free_bytes
        self.free_space = free_space
        self.dropped = 0
        self.written = 0
        self.paths: list[Path] = []
        self.problem: str | None = None
        self._checked_at = -float("inf")
        self._queue: queue.Queue[tuple[np.ndarray, float] | None] = queue.Queue(QUEUE_FRAMES)
        self._thread = threading.Thread(target=self._run, name=f"video-{bed_id}", daemon=True)
        self._thread.start()

    def add(self, image: np.ndarray, t: float) -> None:
        """Queue a BGR frame captured at wall-clock time t; drop it (counted) if the writer is behind."""
        try:
            self._queue.put_nowait((image, t))
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        """Write the queued frames and close the files."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        file: _Mp4File | None = None
        while (item := self._queue.get()) is not None:
            image, t = item
            image = image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2]  # 4:2:0 needs even sides
            if file is not None and image.shape != file.shape:  # a new frame size starts a new file
                self._finish(file)
                file = None
            if not self._space_left():
                self._finish(file)
                file = None
                continue
            try:
                file = file or self._start(image.shape)
                file.write(image, t)
                self.written += 1
            except Exception as exc:  # a full disk, an encoder error: this thread must not die unheard
                self._finish(file, f"Video recording stopped: cannot write in {self.folder}: "
                                   f"{type(exc).__name__}: {exc}")
                file = None
        self._finish(file)

    def _space_left(self) -> bool:
        """Whether to record: free space is checked every `SPACE_CHECK_S` while recording and every
        `RESUME_CHECK_S` while stopped; `problem` says why when it is too little."""
        now = time.monotonic()
        if now - self._checked_at >= (RESUME_CHECK_S if self.problem else SPACE_CHECK_S):
            self._checked_at = now
            try:
                free = self.free_space(self.folder)
            except OSError as exc:  # the folder went away, the disk was unmounted: stop, say so, retry
                self.problem = f"Video recording stopped: cannot check the free space of {self.folder}: {exc}"
                return False
            self.problem = None if free >= self.min_free_bytes else (
                f"Video recording stopped: {free / 2**20:.0f} MiB free on the disk of {self.folder}, under "
                f"{self.min_free_bytes / 2**20:.0f} MiB; it resumes when space is freed")
        return self.problem is None

    def _start(self, shape: tuple[int, ...]) -> _Mp4File:
        file = _Mp4File(recording_stem(self.folder, self.bed_id), self.fps, shape)
        self.paths.append(file.video_path)
        return file

    def _finish(self, file: _Mp4File | None, failure: str | None = None) -> None:
        """Close a file (what it holds stays playable); a failure stops recording until the next space
        check."""
        if failure is not None:
            self.problem, self._checked_at = failure, time.monotonic()
        if file is not None:
            with contextlib.suppress(OSError, av.FFmpegError):  # a full disk: the fragments so far are kept
                file.close()
