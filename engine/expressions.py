"""What a simulated person does over time: per-frame AU intensities (pain episodes among neutral stretches
with movements that are not pain) and small head movements."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import numpy as np

from engine.face_render import Pose
from engine.pspi import MAX_INTENSITY

# Tuned so that a twin's pain levels 1..5 come out in roughly the real archive's proportions (FACTS.md §4).
_SEVERITY_BETA = (0.8, 3.5)  # episode severity ~ Beta(a, b), times the person's expressiveness
_FIRST_SEVERITY = 0.5  # the first episode is at least this strong
_TWITCH_SHARE = 0.4  # share of the movements in neutral stretches that are brief, mild pain twitches
_MEAN_STILL_S = 7.0  # mean time between movements in a neutral stretch


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _envelope(t: np.ndarray, onset: float, apex: float, offset: float) -> np.ndarray:
    """0 → 1 over the onset, 1 through the apex, 1 → 0 over the offset (t in seconds from the start)."""
    return np.minimum(_smoothstep(t / onset), _smoothstep((onset + apex + offset - t) / offset))


def _coded(tracks: dict[int, np.ndarray]) -> list[dict[int, float]]:
    """Per-frame dicts of the non-zero AUs, intensities rounded to whole FACS levels 0..5."""
    n = len(next(iter(tracks.values())))
    coded = {au: np.clip(np.rint(v), 0, MAX_INTENSITY) for au, v in tracks.items()}
    return [{au: float(v[i]) for au, v in coded.items() if v[i] > 0} for i in range(n)]


def _pain_episode(rng: np.random.Generator, severity: float, fps: float, *,
                  eyes_shut: bool = False) -> list[dict[int, float]]:
    """One pain expression: AU apexes grow with severity, each AU following the episode's envelope."""
    onset, apex, offset = rng.uniform(0.5, 1.5), rng.uniform(0.5, 2.5), rng.uniform(0.8, 2.2)
    t = np.arange(round((onset + apex + offset) * fps)) / fps
    peaks: dict[int, float] = {}
    for au, base, slope, spread in ((4, 0.35, 0.55, 0.6), (6, 0.45, 0.5, 0.6), (7, 0.55, 0.45, 0.6),
                                    (9, 0.15, 0.5, 0.4), (10, 0.25, 0.5, 0.5)):
        if rng.random() < base + slope * severity:
            peaks[au] = MAX_INTENSITY * severity * rng.uniform(spread, 1.0)
    if not peaks.keys() & {4, 6, 7}:
        peaks[7] = MAX_INTENSITY * severity * rng.uniform(0.6, 1.1)
    for au, chance, low, high in ((25, 0.5, 1, 4), (26, 0.25, 1, 3), (12, 0.15, 1, 3)):
        if rng.random() < chance:
            peaks[au] = rng.uniform(low, high)
    tracks: dict[int, np.ndarray] = {}
    wobble = 1 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.5, 1.5) * t + rng.uniform(0, 2 * np.pi))
    for au, peak in peaks.items():
        lag = rng.uniform(-0.15, 0.15)
        tracks[au] = peak * wobble * _envelope(t - lag, onset, apex, offset)
    closes = eyes_shut or rng.random() < 0.5 * severity
    tracks[43] = (_envelope(t, onset, apex, offset) > 0.85).astype(float) if closes else np.zeros_like(t)
    return _coded(tracks)


def _distractor_event(rng: np.random.Generator, fps: float) -> list[dict[int, float]]:
    """A movement that is not pain: a smile, talking, or a wide mouth opening."""
    kind = rng.choice(("smile", "talk", "open"))
    duration = rng.uniform(1.5, 4.0)
    t = np.arange(round(duration * fps)) / fps
    env = _envelope(t, duration * 0.25, duration * 0.4, duration * 0.35)
    if kind == "smile":
        tracks = {12: rng.uniform(1.5, 5.0) * env, 25: rng.uniform(0, 2.5) * env}
    elif kind == "talk":
        syllables = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2.0, 3.5) * t)
        tracks = {25: rng.uniform(1.5, 3.5) * env * (0.5 + 0.5 * syllables),
                  26: rng.uniform(0.5, 3.0) * env * syllables}
    else:
        tracks = {25: rng.uniform(2.0, 5.0) * env, 26: rng.uniform(2.5, 5.0) * env}
    return _coded(tracks)


def _twitch(rng: np.random.Generator, fps: float) -> list[dict[int, float]]:
    """A brief, mild pain-related movement: a squint, a frown or shutting the eyes for a moment."""
    duration = rng.uniform(0.6, 2.0)
    t = np.arange(round(duration * fps)) / fps
    env = _envelope(t, duration * 0.3, duration * 0.4, duration * 0.3)
    au = int(rng.choice((4, 6, 7, 43)))
    peak = 1.0 if au == 43 else rng.uniform(1.0, 2.6)
    tracks = {au: peak * env if au != 43 else (env > 0.5).astype(float)}
    return _coded(tracks)


class ExpressionTimeline:
    """Endless per-frame AU intensities (whole FACS levels): neutral stretches with distracting movements
    (smiles, talking, mouth opening) alternating with pain episodes (onset, apex, offset).

    mean_gap_s: mean neutral time between pain episodes. expressiveness scales episode severity
    (0: a stoic person who never shows pain). The first episode is a strong one (eyes shut at its apex).
    """

    def __init__(self, rng: np.random.Generator, fps: float, mean_gap_s: float, expressiveness: float = 1.0,
                 first_gap_s: float | None = None):
        self._rng = rng
        self._fps = fps
        self._mean_gap_s = mean_gap_s
        self._expressiveness = expressiveness
        self._queue: deque[dict[int, float]] = deque()
        self._episodes = 0
        first = rng.uniform(0.2, 0.6) * mean_gap_s if first_gap_s is None else first_gap_s
        self._neutral(first)

    def __iter__(self) -> Iterator[dict[int, float]]:
        return self

    def __next__(self) -> dict[int, float]:
        if not self._queue:
            if self._expressiveness > 0:
                self._pain()
            gap = float(np.clip(self._rng.exponential(self._mean_gap_s), 1.5, 4 * self._mean_gap_s))
            self._neutral(max(gap, 1 / self._fps))  # at least one frame, however low the frame rate
        return self._queue.popleft()

    def _pain(self) -> None:
        severity = min(1.0, self._expressiveness * self._rng.beta(*_SEVERITY_BETA))
        first = self._episodes == 0
        if first:
            severity = max(severity, _FIRST_SEVERITY)
        self._episodes += 1
        self._queue.extend(_pain_episode(self._rng, severity, self._fps, eyes_shut=first))

    def _neutral(self, seconds: float) -> None:
        frames = round(seconds * self._fps)
        while frames > 0:
            still = min(frames, round(self._rng.exponential(_MEAN_STILL_S) * self._fps))
            self._queue.extend({} for _ in range(still))
            frames -= still
            if frames > 0:
                twitch = self._expressiveness > 0 and self._rng.random() < _TWITCH_SHARE
                event = (_twitch if twitch else _distractor_event)(self._rng, self._fps)[:frames]
                self._queue.extend(event)
                frames -= len(event)


class HeadMotion:
    """Small, smooth head movement: each pose component is a sum of three slow sinusoids."""

    _AMPLITUDE = np.array([0.02, 0.015, 0.03, 4.0, 0.25])  # dx, dy, scale, roll (deg), yaw

    def __init__(self, rng: np.random.Generator):
        self._freq = rng.uniform(0.03, 0.35, (5, 3))
        self._phase = rng.uniform(0, 2 * np.pi, (5, 3))
        weights = rng.uniform(0.3, 1.0, (5, 3))
        self._weight = weights / weights.sum(1, keepdims=True)

    def __call__(self, t: float) -> Pose:
        wave = (self._weight * np.sin(2 * np.pi * self._freq * t + self._phase)).sum(1) * self._AMPLITUDE
        return Pose(dx=float(wave[0]), dy=float(wave[1]), scale=1.0 + float(wave[2]), roll=float(wave[3]),
                    yaw=float(wave[4]))
