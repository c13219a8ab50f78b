"""Inference backends behind one interface: predict(aligned faces) → pain scores, and for a model with an AU
head predict_with_aus(aligned faces) → pain scores and AU probabilities from the same inference.

PyTorch (CPU or CUDA) is the reference; ONNX Runtime is the fast CPU backend, TensorRT the fast GPU one.
Backend modules are imported only when chosen, so asking for one does not load the others' libraries, and
this module itself loads none (the GUI's settings read `Backend` without loading torch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from engine.errors import BackendUnavailableError
from engine.labelled import LabelledEnum

if TYPE_CHECKING:
    from engine.checkpoint import ModelCard


class Backend(LabelledEnum):
    """The inference backends a user can ask for; AUTO picks the fastest that runs here
    (engine.backends.select)."""

    AUTO = "auto", "Automatic"
    TORCH = "torch", "PyTorch"
    ONNX = "onnx", "ONNX Runtime"
    TENSORRT = "tensorrt", "TensorRT"

Outputs = tuple[np.ndarray, np.ndarray | None]
"""Scores (N,) and AU probabilities (N, K), or None for a model without AUs."""


class Predictor(Protocol):
    """Scores aligned faces with one model on one device. Backends subclass it for `predict`."""

    name: Backend
    device: str
    input_size: tuple[int, int]
    card: ModelCard
    aus: tuple[int, ...]  # the model's AU numbers, in the order of its AU outputs; () without an AU head

    def predict_with_aus(self, faces: np.ndarray) -> Outputs:
        """faces: N×h×w×3 RGB uint8 (N may be 0) → (N,) float32 scores in [0, 5] and (N, K) float32 AU
        probabilities, columns in `aus` order (None for a model without AUs)."""
        ...

    def predict(self, faces: np.ndarray) -> np.ndarray:
        """faces: N×h×w×3 RGB uint8 (N may be 0) → (N,) float32 scores in [0, 5]."""
        return self.predict_with_aus(faces)[0]


def check_faces(faces: np.ndarray, input_size: tuple[int, int]) -> None:
    """Raise ValueError unless `faces` is an N×h×w×3 uint8 array with (h, w) == input_size."""
    if not isinstance(faces, np.ndarray) or faces.dtype != np.uint8:
        kind = f"{type(faces).__name__} {getattr(faces, 'dtype', '')}"
        raise ValueError(f"faces must be a uint8 numpy array, got {kind}")
    if faces.ndim != 4 or faces.shape[1:] != (*input_size, 3):
        raise ValueError(f"faces must have shape N×{input_size[0]}×{input_size[1]}×3, got {faces.shape}")


def predict_in_chunks(faces: np.ndarray, size: int, n_aus: int,
                      run: Callable[[np.ndarray], Sequence[np.ndarray]]) -> Outputs:
    """Scores and AU probabilities (None when n_aus is 0) of `faces`, `size` at a time through `run`, which
    maps a chunk to its model outputs: (scores,) or (scores, AU probabilities)."""
    scores = np.empty(len(faces), np.float32)
    probs = np.empty((len(faces), n_aus), np.float32) if n_aus else None
    for start in range(0, len(faces), size):
        outputs = run(faces[start : start + size])
        stop = start + len(outputs[0])
        scores[start:stop] = outputs[0]
        if probs is not None:
            probs[start:stop] = outputs[1]
    return scores, probs


def create_predictor(checkpoint: str | Path, backend: str = Backend.AUTO, device: str | None = None
                     ) -> Predictor:
    """A predictor for a painmon checkpoint.

    backend: a `Backend` name; auto: engine.backends.select (TensorRT when it runs here and the model's
    engines are built, else torch on CUDA, else ONNX Runtime on the CPU, logging why; with a device given,
    torch there or ONNX Runtime on the CPU).
    device: "cpu", "cuda", "cuda:1", ...; None picks the backend's best. Raises ModelFileError for a bad
    checkpoint and BackendUnavailableError for a backend or device that cannot run here.
    """
    chosen = backend_named(backend)
    if (chosen is Backend.AUTO and device is None) or chosen is Backend.TENSORRT:
        from engine.backends.select import choose_backend

        choice = choose_backend(chosen, Path(checkpoint))
        chosen, device = choice.backend, choice.device
    if chosen is Backend.AUTO:
        assert device is not None
        chosen = Backend.TORCH if device.startswith("cuda") else Backend.ONNX
    if chosen is Backend.TENSORRT:
        from engine.backends.tensorrt_backend import TensorRTPredictor

        return TensorRTPredictor.from_cache(checkpoint)
    if chosen is Backend.TORCH:
        from engine.backends.torch_backend import TorchPredictor

        return TorchPredictor(checkpoint, device)
    from engine.backends.onnx_backend import OnnxPredictor

    return OnnxPredictor(checkpoint, device)


def backend_named(name: str) -> Backend:
    """The backend of that name; BackendUnavailableError naming the choices for any other."""
    try:
        return Backend(name)
    except ValueError:
        choices = ", ".join(Backend)
        raise BackendUnavailableError(f"unknown backend {name!r}; choose {choices}") from None
