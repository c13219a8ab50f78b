"""Opt-in video recording of one bed: an MP4 file plus a CSV sidecar with each frame's wall-clock time, both
readable by their owner only (they show a patient).

Frames are handed over through a bounded queue to a writer thread, so a slow disk never slows capture:
when the queue is full the frame is dropped and counted (the sidecar lists only frames written, so video
and times stay in step).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from app.beds import BED_ID
from engine.files import PRIVATE_MODE

QUEUE_FRAMES = 30
FOURCC = "mp4v"


def recording_stem(folder: Path, bed_id: str) -> Path:
    """Where a new recording of a bed goes: `<folder>/<bed id>_<date>-<time>-<microseconds>`. The id must be
    a bed id (12 hex digits; ValueError otherwise), so the path never leaves `folder`."""
    if not BED_ID.fullmatch(bed_id):
        raise ValueError(f"not a bed id: {bed_id!r}")
    return folder / f"{bed_id}_{datetime.now():%Y%m%d-%H%M%S-%f}"


def _create_private(path: Path) -> int:
    """Create (or empty) a file readable by its owner only and return its descriptor."""
    return os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, PRIVATE_MODE)


class VideoRecorder:
    """Writes `<stem>.mp4` and `<stem>.timestamps.csv` (columns frame, t) from any one thread via `add`.

    The video is opened at the first frame (its size) with the nominal `fps`; the sidecar holds the true
    capture times. `close()` writes what is queued and finishes both files.
    """

    def __init__(self, stem: Path, fps: float) -> None:
        self.video_path = stem.with_suffix(".mp4")
        self.times_path = stem.with_suffix(".timestamps.csv")
        self.fps = fps
        self.dropped = 0
        self.written = 0
        self.error: str | None = None
        stem.parent.mkdir(parents=True, exist_ok=True)
        self._queue: queue.Queue[tuple[np.ndarray, float] | None] = queue.Queue(QUEUE_FRAMES)
        self._thread = threading.Thread(target=self._run, name=f"video-{stem.name}", daemon=True)
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
        writer: cv2.VideoWriter | None = None
        with os.fdopen(_create_private(self.times_path), "w", encoding="utf-8") as times:
            times.write("frame,t\n")
            while (item := self._queue.get()) is not None:
                image, t = item
                if self.error is not None:
                    continue
                if writer is None:
                    writer = self._open(image)
                    if writer is None:
                        continue
                writer.write(image)
                times.write(f"{self.written},{t:.6f}\n")
                self.written += 1
        if writer is not None:
            writer.release()

    def _open(self, image: np.ndarray) -> cv2.VideoWriter | None:
        height, width = image.shape[:2]
        os.close(_create_private(self.video_path))  # the encoder writes into it and keeps its mode
        writer = cv2.VideoWriter(str(self.video_path), cv2.VideoWriter.fourcc(*FOURCC), self.fps,
                                 (width, height))
        if writer.isOpened():
            return writer
        with contextlib.suppress(OSError):
            self.video_path.unlink(missing_ok=True)
        self.error = f"cannot write video {self.video_path} ({FOURCC} codec unavailable or disk not writable)"
        return None
