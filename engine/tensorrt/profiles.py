"""Optimisation profiles: the input shapes each engine is built for, matched to what the pipeline sends."""

from __future__ import annotations

from dataclasses import dataclass

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Profile:
    """Smallest, typical (tuned for) and largest input shape of a one-input network."""

    min: Shape
    opt: Shape
    max: Shape

    def as_dict(self) -> dict[str, list[int]]:
        """JSON form, also part of the plan cache key."""
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    def admits(self, shape: Shape) -> bool:
        """Whether an input of `shape` lies within the profile."""
        return len(shape) == len(self.max) and all(
            low <= size <= high for low, size, high in zip(self.min, shape, self.max, strict=True)
        )


def regressor_profile(input_size: tuple[int, int]) -> Profile:
    """Batches of 1–16 aligned faces (one per monitored bed per step), tuned for 8."""
    return Profile((1, 3, *input_size), (8, 3, *input_size), (16, 3, *input_size))


# PNet sees one pyramid level of one frame at a time. Largest level: a 1920×1080 frame in either orientation
# at a 20 px minimum face (scale 12/20 → 1152×648); tuned for a 640×360 frame at 20 px (216×384).
PNET = Profile((1, 3, 12, 12), (1, 3, 216, 384), (1, 3, 1152, 1152))
# RNet scores PNet's candidates, which facenet-pytorch feeds in chunks of up to 512.
RNET = Profile((1, 3, 24, 24), (64, 3, 24, 24), (512, 3, 24, 24))
# ONet sees RNet's survivors: a handful of faces at the bedside; larger sets are run in chunks.
ONET = Profile((1, 3, 48, 48), (8, 3, 48, 48), (64, 3, 48, 48))
