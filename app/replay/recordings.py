"""Finding a bed's video recordings (app.video_recording) and the frame shown at each moment of a session.

A recording is `<bed id>_<start>.mp4` with `<same>.timestamps.csv` beside it (columns frame, t: each frame's
wall-clock capture time). After a crash the sidecar may end in a partial line, and the video may hold a few
frames fewer than the sidecar lists (its last fragment was not complete): both are read up to what is whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.replay.playback import VideoFrames, nearest_indices
from app.video_recording import TIMES_SUFFIX

MATCH_S = 1.0
"""A session sample is shown with the recorded frame captured nearest to it, if one is this close."""


@dataclass(frozen=True)
class Recording:
    """One recording file and the wall-clock capture time of each of its frames (s, increasing)."""

    video: Path
    times: np.ndarray


def read_times(path: Path) -> np.ndarray:
    """Capture times listed in a recording's sidecar, up to its last whole line; empty when unreadable."""
    times: list[float] = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return np.zeros(0)
    for line in text.split("\n")[1:-1]:  # after the header; the part after the last newline is not whole
        frame, _, t = line.partition(",")
        try:
            value = float(t)
        except ValueError:
            break
        if frame != str(len(times)) or not math.isfinite(value) or (times and value <= times[-1]):
            break
        times.append(value)
    return np.asarray(times, dtype=np.float64)


def recordings_of(folder: Path, bed_id: str, start: float, end: float) -> list[Recording]:
    """The recordings of a bed with frames between wall-clock times start and end, oldest first."""
    found = []
    for video in sorted(folder.glob(f"{bed_id}_*.mp4")):
        times = read_times(video.with_name(video.stem + TIMES_SUFFIX))
        if len(times) and times[0] <= end and times[-1] >= start:
            found.append(Recording(video, times))
    return sorted(found, key=lambda r: float(r.times[0]))


class SessionFrames:
    """The recorded video frame at each sample of a session (for `Playback`): the frame captured nearest to
    the sample's time, from whichever recording holds it, or None where no frame is within `MATCH_S`."""

    def __init__(self, recordings: list[Recording], sample_times: np.ndarray) -> None:
        self.recordings = recordings
        self._files: dict[int, VideoFrames] = {}
        t = np.asarray(sample_times, dtype=np.float64)
        self._recording = np.full(len(t), -1)
        self._frame = np.zeros(len(t), dtype=np.int64)
        best = np.full(len(t), MATCH_S)
        for number, recording in enumerate(recordings):
            frame = nearest_indices(recording.times, t)
            distance = np.abs(recording.times[frame] - t)
            closer = distance <= best
            best[closer], self._frame[closer] = distance[closer], frame[closer]
            self._recording[closer] = number

    def read(self, index: int) -> np.ndarray | None:
        """The BGR frame shown at sample `index`, or None (no video then, or it cannot be decoded)."""
        number = int(self._recording[index])
        if number < 0:
            return None
        if number not in self._files:
            recording = self.recordings[number]
            self._files[number] = VideoFrames(recording.video, recording.times - recording.times[0])
        return self._files[number].read(int(self._frame[index]))

    def close(self) -> None:
        """Release the files."""
        for frames in self._files.values():
            frames.close()
        self._files.clear()
