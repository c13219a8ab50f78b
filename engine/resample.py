"""Area resampling as torch's `interpolate(mode="area")` does it, in numpy from an integral image.

torch's area mode is adaptive average pooling: output pixel i of n_out averages the input pixels
floor(i·n_in / n_out) … ceil((i + 1)·n_in / n_out) − 1, whole pixels only. OpenCV's INTER_AREA weighs
fractional pixels instead, and MTCNN's later nets answer visibly differently to that (landmarks up to 5 % of
the eye distance apart on the project's clips), so the torch-free detector resamples as torch does. From one
integral image every pyramid level costs a few lookups per output pixel: faster than INTER_AREA here.
"""

from __future__ import annotations

import cv2
import numpy as np

_INT32_PIXELS = (2**31 - 1) // 255
"""Most pixels whose uint8 sum fits the int32 integral image (4K UHD does); larger images sum in float64."""


def _bins(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last input index of each output pixel's bin."""
    i = np.arange(n_out)
    return (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)


class AreaResampler:
    """One uint8 H×W×C image, resampled to any size by `resize` (its integral image is computed once)."""

    def __init__(self, image: np.ndarray) -> None:
        height, width = image.shape[:2]
        depth = cv2.CV_32S if height * width <= _INT32_PIXELS else cv2.CV_64F
        self._sums = cv2.integral(image, sdepth=depth)
        self._shape = (height, width)

    def resize(self, size: tuple[int, int]) -> np.ndarray:
        """The image at size (width, height) as float32 H×W×C, each pixel the mean of its bin."""
        (height, width), (out_w, out_h) = self._shape, size
        top, bottom = _bins(height, out_h)
        left, right = _bins(width, out_w)
        rows = self._sums[bottom] - self._sums[top]  # each bin's rows, summed up to every column
        sums = rows[:, right] - rows[:, left]
        counts = ((bottom - top)[:, None] * (right - left)[None, :]).astype(np.float32)
        return sums.astype(np.float32) / counts[:, :, None]


def area_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A uint8 H×W×C image area-resampled to size (width, height), float32, as torch's area mode."""
    return AreaResampler(image).resize(size)
