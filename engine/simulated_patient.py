"""A live video source showing one simulated patient whose pain episodes are known frame by frame.

It renders faces with engine.face_render, animated by engine.expressions; painmon's monitor, self-test,
tests and TensorRT verification use it where a camera would be.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from engine.expressions import ExpressionTimeline, HeadMotion
from engine.face_render import Identity, random_identity, render_face
from engine.pspi import pspi, pspi_to_level


@dataclass(frozen=True)
class SimulatedFrame:
    """One frame of the simulated patient with its ground truth."""

    index: int
    timestamp: float
    image: np.ndarray  # BGR uint8 (H, W, 3)
    aus: dict[int, float]
    pspi: float
    level: int
    landmarks: np.ndarray  # (66, 2) pixels


class SimulatedPatient:
    """A live video source showing one simulated patient with pain episodes, deterministic from `seed`.

    Timestamps run on the simulated clock (index / fps); frames come as fast as they are drawn (a live
    source paces them: engine.patient_process.RemotePatient). The ground truth of the last frame read is in
    current_aus, current_pspi and level().
    """

    def __init__(self, seed: int = 0, fps: float = 15.0, size: tuple[int, int] = (640, 360), *,
                 identity: Identity | None = None, mean_gap_s: float = 8.0, expressiveness: float = 1.5,
                 noise: bool = True):
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = fps
        self.size = (int(size[0]), int(size[1]))
        self.identity = random_identity(np.random.default_rng([seed, 0])) if identity is None else identity
        self._timeline = ExpressionTimeline(np.random.default_rng([seed, 1]), fps, mean_gap_s, expressiveness,
                                            first_gap_s=min(3.0, mean_gap_s))
        self._motion = HeadMotion(np.random.default_rng([seed, 2]))
        self._noise = np.random.default_rng([seed, 3]) if noise else None
        self._index = -1
        self._aus: dict[int, float] = {}

    def next_frame(self) -> SimulatedFrame:
        """Render the next frame and return it with its ground truth."""
        self._index += 1
        timestamp = self._index / self.fps
        self._aus = next(self._timeline)
        pose = self._motion(timestamp)
        image, landmarks = render_face(self.identity, self._aus, self.size, pose, self._noise)
        value = pspi(self._aus)
        return SimulatedFrame(index=self._index, timestamp=timestamp, image=image, aus=dict(self._aus),
                              pspi=value, level=pspi_to_level(value), landmarks=landmarks)

    def read(self) -> tuple[int, float, np.ndarray]:
        """Next frame as (frame index, timestamp in seconds, BGR image), like a camera source."""
        frame = self.next_frame()
        return frame.index, frame.timestamp, frame.image

    def frames(self, count: int) -> Iterator[SimulatedFrame]:
        """The next `count` frames with their ground truth."""
        for _ in range(count):
            yield self.next_frame()

    @property
    def current_aus(self) -> dict[int, float]:
        """AU intensities of the last frame read."""
        return dict(self._aus)

    @property
    def current_pspi(self) -> float:
        """PSPI of the last frame read."""
        return pspi(self._aus)

    def level(self) -> int:
        """6-level pain label of the last frame read."""
        return pspi_to_level(self.current_pspi)
