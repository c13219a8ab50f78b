"""Score time series for plotting: an append-friendly buffer and gap marking (no Qt)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Samples = np.ndarray | Sequence[float] | float
"""One value, or several in time order."""

DEFAULT_MAX_GAP_S = 2.0
"""Samples further apart than this are not joined: the stretch between them had no frames at all."""


class ScoreSeries:
    """(t, score) samples in time order, NaN for frames without a score; appends are amortised O(1)."""

    def __init__(self, capacity: int = 4096) -> None:
        self._t = np.empty(capacity, dtype=np.float64)
        self._score = np.empty(capacity, dtype=np.float64)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def t(self) -> np.ndarray:
        """Sample times (a read-only view)."""
        return _readonly(self._t[: self._size])

    @property
    def score(self) -> np.ndarray:
        """Scores, NaN where the frame had none (a read-only view)."""
        return _readonly(self._score[: self._size])

    def extend(self, t: Samples, score: Samples) -> None:
        """Append one sample or arrays of samples; times must not go back."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        score = np.atleast_1d(np.asarray(score, dtype=np.float64))
        if t.shape != score.shape or t.ndim != 1:
            raise ValueError(f"t and score must be 1-D and of equal length, got {t.shape} and {score.shape}")
        if len(t) == 0:
            return
        if np.any(np.diff(t) < 0) or (self._size and t[0] < self._t[self._size - 1]):
            raise ValueError("sample times must not go back")
        end = self._size + len(t)
        if end > len(self._t):
            capacity = max(end, 2 * len(self._t))
            self._t = np.resize(self._t, capacity)
            self._score = np.resize(self._score, capacity)
        self._t[self._size:end] = t
        self._score[self._size:end] = score
        self._size = end

    def clear(self) -> None:
        """Forget all samples."""
        self._size = 0

    def since(self, start: float) -> tuple[np.ndarray, np.ndarray]:
        """Samples with t >= start."""
        first = int(np.searchsorted(self.t, start, side="left"))
        return self.t[first:], self.score[first:]


def with_gaps(t: np.ndarray, score: np.ndarray, max_gap_s: float = DEFAULT_MAX_GAP_S
              ) -> tuple[np.ndarray, np.ndarray]:
    """Insert a NaN sample wherever consecutive times are more than `max_gap_s` apart, so a curve drawn
    with connect='finite' breaks there instead of bridging a stretch without frames."""
    t = np.asarray(t, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    jumps = np.flatnonzero(np.diff(t) > max_gap_s) + 1
    if len(jumps) == 0:
        return t, score
    return np.insert(t, jumps, t[jumps - 1]), np.insert(score, jumps, np.nan)


def _readonly(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array
