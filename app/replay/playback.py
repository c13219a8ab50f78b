"""Replay's timeline: `Playback` moves through a recording's frames by hand or in time with their timestamps,
showing `Frames`: a video file's with `VideoFrames` (frame-exact seeks, also in files with a variable frame
rate), or a session's recorded video (app.replay.recordings)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal

from engine.errors import VideoSourceError

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0)
MAX_WAIT_S = 0.5
"""Longest wall-clock wait between two frames while playing: a stretch without frames is skipped quickly."""
SEQUENTIAL_FRAMES = 16
"""A frame this few ahead of the last one decoded is reached by decoding forward rather than seeking."""


class Frames(Protocol):
    """Frames along a timeline, by index: a video's (`VideoFrames`) or a session's recorded video."""

    def read(self, index: int) -> np.ndarray | None:
        """The BGR frame at `index`, or None when there is none to show."""

    def close(self) -> None:
        """Release the files."""


class VideoFrames:
    """Frames of a video file by index, decoded with OpenCV: sequential reads while playing, checked seeks.

    OpenCV seeks by an average frame rate, which lands on the wrong frame in files with a variable rate;
    every seek is therefore checked against the frame times measured when the video was read through
    (`times`, seconds) and corrected by decoding forward from an earlier point.
    """

    def __init__(self, path: Path, times: np.ndarray) -> None:
        self.path = path
        self.times = np.asarray(times, dtype=np.float64)
        self._capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not self._capture.isOpened():
            raise VideoSourceError(f"{path}: cannot be opened for replay")
        self._rate = self._capture.get(cv2.CAP_PROP_FPS) or 30.0
        self._at = -1  # index of the frame last decoded (grabbed)

    def read(self, index: int) -> np.ndarray | None:
        """The BGR frame at `index`, or None if it cannot be decoded."""
        if not self._at <= index < self._at + SEQUENTIAL_FRAMES and not self._seek(index):
            return None
        while self._at < index:
            if not self._capture.grab():
                return None
            self._at += 1
        ok, frame = self._capture.retrieve()
        return frame if ok else None

    def _seek(self, index: int) -> bool:
        """Decode the frame `index` or one shortly before it (`_at` says which)."""
        for margin in (0, 8, 32, 128, None):  # frames to start earlier; None: from the start
            guess = 0 if margin is None else max(0, round(self.times[index] * self._rate) - margin)
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, guess)
            if self._capture.grab():
                at = nearest_index(self.times, self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
                if at <= index:
                    self._at = at
                    return True
        return False

    def close(self) -> None:
        """Release the file."""
        self._capture.release()


def nearest_indices(times: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Index of the time nearest to each of `t` in sorted `times` (not empty); ties go to the earlier."""
    right = np.searchsorted(times, t).clip(0, len(times) - 1)
    left = (right - 1).clip(0)
    return np.where(np.abs(times[right] - t) < np.abs(t - times[left]), right, left)


def nearest_index(times: np.ndarray, t: float) -> int:
    """Index of the time nearest to t in sorted `times` (not empty)."""
    return int(nearest_indices(times, np.asarray([t], dtype=np.float64))[0])


class Playback(QObject):
    """Moves through a timeline of frames (a video's, or a session's samples) by hand or in time with
    their timestamps at a chosen speed, decoding video frames when there is a video.

    Signals: `position_changed(index)` after every move, `playing_changed(playing)`.
    """

    position_changed = Signal(int)
    playing_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.times = np.zeros(0)
        self.frame: np.ndarray | None = None  # the current video frame (BGR), None without video
        self._video: Frames | None = None
        self._position = 0
        self._speed = 1.0
        self._playing = False
        self._anchor = (0.0, 0.0)  # (media time, monotonic wall time) that playing counts from
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)

    def load(self, times: np.ndarray, frames: Frames | None = None) -> None:
        """Replace the timeline (times in seconds, increasing) and the frames shown along it (taking them
        over: `close` releases them), and show the first."""
        self.pause()
        self.close()
        self.times = np.asarray(times, dtype=np.float64)
        self._video = frames
        self._position = -1
        if len(self.times):
            self.seek(0)

    def close(self) -> None:
        """Release the video file."""
        if self._video is not None:
            self._video.close()
            self._video = None
        self.frame = None

    @property
    def count(self) -> int:
        """Number of frames in the timeline."""
        return len(self.times)

    @property
    def position(self) -> int:
        """Index of the frame shown."""
        return self._position

    @property
    def playing(self) -> bool:
        """True while playing."""
        return self._playing

    @property
    def speed(self) -> float:
        """Playing speed (1 = real time)."""
        return self._speed

    def set_speed(self, speed: float) -> None:
        """Play at `speed` × real time, 0.25 to 4."""
        if not SPEEDS[0] <= speed <= SPEEDS[-1]:
            raise ValueError(f"speed must be {SPEEDS[0]:g}–{SPEEDS[-1]:g}×, got {speed:g}")
        self._speed = float(speed)
        self._restart_clock()

    def seek(self, index: int) -> None:
        """Show the frame `index` (clamped to the timeline)."""
        if not self.count:
            return
        index = min(max(int(index), 0), self.count - 1)
        if index != self._position:
            self._show(index)
        self._restart_clock()

    def seek_time(self, t: float) -> None:
        """Show the frame nearest to time t."""
        if self.count:
            self.seek(nearest_index(self.times, t))

    def step(self, frames: int) -> None:
        """Pause and move `frames` frames forward (negative: back)."""
        self.pause()
        self.seek(self._position + frames)

    def play(self) -> None:
        """Play from the current frame (from the start when at the end)."""
        if self._playing or self.count < 2:
            return
        if self._position >= self.count - 1:
            self.seek(0)
        self._playing = True
        self.playing_changed.emit(True)
        self._restart_clock()

    def pause(self) -> None:
        """Stop playing."""
        self._timer.stop()
        if self._playing:
            self._playing = False
            self.playing_changed.emit(False)

    def toggle(self) -> None:
        """Play when paused, pause when playing."""
        self.pause() if self._playing else self.play()

    def _show(self, index: int) -> None:
        self._position = index
        if self._video is not None:
            self.frame = self._video.read(index)
        self.position_changed.emit(index)

    def _restart_clock(self) -> None:
        if self._playing:
            self._anchor = (float(self.times[self._position]), time.monotonic())
            self._schedule(float(self.times[self._position]))

    def _media_time(self) -> float:
        media, wall = self._anchor
        return media + (time.monotonic() - wall) * self._speed

    def _tick(self) -> None:
        if not self._playing:
            return
        now = self._media_time()
        index = max(self._position, int(np.searchsorted(self.times, now, side="right")) - 1)
        if index != self._position:
            self._show(min(index, self.count - 1))
        if self._position >= self.count - 1:
            self.pause()
            return
        self._schedule(now)

    def _schedule(self, now: float) -> None:
        """Arm the timer for the next frame; a long stretch without frames is crossed in MAX_WAIT_S."""
        upcoming = float(self.times[min(self._position + 1, self.count - 1)])
        wait = (upcoming - now) / self._speed
        if wait > MAX_WAIT_S:
            self._anchor = (upcoming, time.monotonic() + MAX_WAIT_S)
            wait = MAX_WAIT_S
        self._timer.start(max(1, round(wait * 1000)))
