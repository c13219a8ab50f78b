"""Inference backends behind one interface: predict_outputs(aligned faces) → pain scores, the AU
probabilities of a model with an AU head and the pooled features, all from one inference (predict: the
scores alone).

PyTorch (CPU or CUDA) is the reference; ONNX Runtime is the fast CPU backend, TensorRT the fast GPU one.
Backend modules are imported only when chosen, so asking for one does not load the others' libraries, and
this module itself loads none (the GUI's settings read `Backend` without loading torch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from engine.errors import BackendUnavailableError, needing_torch_stack
from engine.labelled import LabelledEnum

if TYPE_CHECKING:
    from engine.applicability import Applicability
    from engine.model_card import ModelCard


class Backend(LabelledEnum):
    """The inference backends a user can ask for; AUTO picks the fastest that runs here
    (engine.backends.select)."""

    AUTO = "auto", "Automatic"
    TORCH = "torch", "PyTorch"
    ONNX = "onnx", "ONNX Runtime"
    TENSORRT = "tensorrt", "TensorRT"

@dataclass(frozen=True)
class Prediction:
    """What one model gives for N faces, all float32: scores (N,) in [0, 5], AU probabilities (N, K) with
    columns in the model's `aus` order (None for a model without AUs), and the features that describe the
    faces to engine.applicability (N, D) (N × 0 when N is 0)."""

    scores: np.ndarray
    aus: np.ndarray | None
    features: np.ndarray


class Predictor(Protocol):
    """Scores aligned faces with one model on one device. Backends subclass it for `predict_outputs`."""

    name: Backend
    device: str
    input_size: tuple[int, int]
    card: ModelCard
    aus: tuple[int, ...]  # the model's AU numbers, in the order of its AU outputs; () without an AU head
    applicability: Applicability | None  # its training faces (create_predictor reads them); None: unknown

    def predict_outputs(self, faces: np.ndarray) -> Prediction:
        """faces: N×h×w×3 RGB uint8 (N may be 0) → scores, AU probabilities and features."""
        ...

    def predict(self, faces: np.ndarray) -> np.ndarray:
        """faces: N×h×w×3 RGB uint8 (N may be 0) → (N,) float32 scores in [0, 5]."""
        return self.predict_outputs(faces).scores


def check_faces(faces: np.ndarray, input_size: tuple[int, int]) -> None:
    """Raise ValueError unless `faces` is an N×h×w×3 uint8 array with (h, w) == input_size."""
    if not isinstance(faces, np.ndarray) or faces.dtype != np.uint8:
        kind = f"{type(faces).__name__} {getattr(faces, 'dtype', '')}"
        raise ValueError(f"faces must be a uint8 numpy array, got {kind}")
    if faces.ndim != 4 or faces.shape[1:] != (*input_size, 3):
        raise ValueError(f"faces must have shape N×{input_size[0]}×{input_size[1]}×3, got {faces.shape}")


def predict_in_chunks(faces: np.ndarray, size: int, n_aus: int,
                      run: Callable[[np.ndarray], Sequence[np.ndarray]]) -> Prediction:
    """The prediction for `faces`, `size` at a time through `run`, which maps a chunk to the model's outputs
    in engine.outputs order: (scores, features), or (scores, AU probabilities, features) when n_aus > 0."""
    chunks = [[np.asarray(out, np.float32) for out in run(faces[start : start + size])]
              for start in range(0, len(faces), size)]
    if not chunks:
        return Prediction(np.zeros(0, np.float32), np.zeros((0, n_aus), np.float32) if n_aus else None,
                          np.zeros((0, 0), np.float32))
    outputs = [np.concatenate(parts) for parts in zip(*chunks, strict=True)]
    return Prediction(outputs[0], outputs[1] if n_aus else None, outputs[-1])


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
    predictor: Predictor
    with needing_torch_stack(f"the {chosen.label} backend"):
        if chosen is Backend.TENSORRT:
            from engine.backends.tensorrt_backend import TensorRTPredictor

            predictor = TensorRTPredictor.from_cache(checkpoint)
        elif chosen is Backend.TORCH:
            from engine.backends.torch_backend import TorchPredictor

            predictor = TorchPredictor(checkpoint, device)
        else:
            from engine.backends.onnx_backend import OnnxPredictor

            predictor = OnnxPredictor(checkpoint, device)
    from engine.model_card import read_applicability

    predictor.applicability = read_applicability(checkpoint)
    return predictor


def backend_named(name: str) -> Backend:
    """The backend of that name; BackendUnavailableError naming the choices for any other."""
    try:
        return Backend(name)
    except ValueError:
        choices = ", ".join(Backend)
        raise BackendUnavailableError(f"unknown backend {name!r}; choose {choices}") from None
