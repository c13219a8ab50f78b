"""Score smoothing: follows the time constant, never carries a value across a gap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.smoothing import ScoreSmoother


def run(smoother: ScoreSmoother, times, scores) -> np.ndarray:
    return np.array([smoother.update(t, s) for t, s in zip(times, scores, strict=True)])


def test_step_response_follows_the_time_constant():
    times = np.arange(0, 3, 1 / 30)
    out = run(ScoreSmoother(tau_s=0.5), times, np.r_[0.0, np.full(len(times) - 1, 4.0)])
    # After one time constant an exponential smoother has covered 1 − 1/e of the step.
    np.testing.assert_allclose(out, 4 * (1 - np.exp(-times / 0.5)), rtol=1e-9)
    assert out[15] == pytest.approx(4 * (1 - math.exp(-1)), rel=1e-9)  # t = 0.5 s
    assert np.all(np.diff(out) >= 0) and np.all(out <= 4.0)


def test_uneven_frame_timing_gives_the_same_curve():
    # 30 fps and 10 fps sampling of the same step agree where their timestamps meet.
    fine = run(ScoreSmoother(0.4), np.arange(31) / 30, [1.0] + [3.0] * 30)
    coarse = run(ScoreSmoother(0.4), np.arange(11) / 10, [1.0] + [3.0] * 10)
    np.testing.assert_allclose(fine[::3], coarse, rtol=1e-9)


def test_gap_restarts_and_is_reported_as_nan():
    smoother = ScoreSmoother(tau_s=1.0)
    out = run(smoother, [0.0, 0.1, 0.2, 0.3, 0.4], [4.0, 4.0, math.nan, 0.5, 1.0])
    assert math.isnan(out[2])
    assert out[3] == 0.5  # the first score after a gap is raw: nothing from before the gap leaks in
    assert 0.5 < out[4] < 1.0


def test_long_silence_between_scores_restarts():
    smoother = ScoreSmoother(tau_s=1.0, max_step_s=1.0)
    assert smoother.update(0.0, 5.0) == 5.0
    assert smoother.update(3.0, 1.0) == 1.0  # dropped frames for 3 s: no bridging
    assert smoother.update(2.0, 2.0) == 2.0  # time went backwards (a new recording)


def test_zero_time_constant_passes_scores_through():
    scores = [0.3, 4.2, math.nan, 1.1]
    out = run(ScoreSmoother(0.0), [0, 0.1, 0.2, 0.3], scores)
    np.testing.assert_array_equal(out, scores)


def test_negative_time_constant_is_refused():
    with pytest.raises(ValueError, match="≥ 0"):
        ScoreSmoother(-1.0)
