"""Temporal smoothing of per-frame scores that never bridges a gap.

A gap (a frame without a score) restarts the smoother, so the first score after a gap is the raw score and no
value is ever drawn from frames on the other side of the gap.
"""

from __future__ import annotations

import math

DEFAULT_MAX_STEP_S = 1.0


class ScoreSmoother:
    """Causal exponential smoothing with time constant `tau_s` seconds, aware of uneven frame timing.

    Each score moves the output by 1 − exp(−Δt / tau_s) of the way toward it. A NaN score (a gap) or a jump of
    more than `max_step_s` between scored frames restarts it. `tau_s` = 0 passes scores through unchanged.
    """

    def __init__(self, tau_s: float, max_step_s: float = DEFAULT_MAX_STEP_S) -> None:
        if tau_s < 0:
            raise ValueError(f"smoothing time constant must be ≥ 0, got {tau_s}")
        self.tau_s = tau_s
        self.max_step_s = max_step_s
        self._value = math.nan
        self._time = math.nan

    def reset(self) -> None:
        """Forget the history (a new patient, a new recording)."""
        self._value = math.nan
        self._time = math.nan

    def update(self, timestamp: float, score: float) -> float:
        """Feed the score of the frame at `timestamp` (NaN for a gap); return the smoothed score or NaN."""
        if math.isnan(score):
            self.reset()
            return math.nan
        step = timestamp - self._time
        if self.tau_s == 0 or math.isnan(self._value) or not 0 < step <= self.max_step_s:
            self._value = score
        else:
            self._value += (1.0 - math.exp(-step / self.tau_s)) * (score - self._value)
        self._time = timestamp
        return self._value
