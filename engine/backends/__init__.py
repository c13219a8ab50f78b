"""Inference backends behind one interface: predict(aligned faces) → pain scores.

PyTorch (CPU or CUDA) is the reference; ONNX Runtime is the fast CPU backend. Backend modules are
imported only when chosen, so asking for one does not load the others' libraries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from engine.errors import BackendUnavailableError


class Predictor(Protocol):
    """Scores aligned faces with one model on one device."""

    name: str
    device: str
    input_size: tuple[int, int]

    def predict(self, faces: np.ndarray) -> np.ndarray:
        """faces: N×h×w×3 RGB uint8 (N may be 0) → (N,) float32 scores in [0, 5]."""
        ...


def check_faces(faces: np.ndarray, input_size: tuple[int, int]) -> None:
    """Raise ValueError unless `faces` is an N×h×w×3 uint8 array with (h, w) == input_size."""
    if not isinstance(faces, np.ndarray) or faces.dtype != np.uint8:
        kind = f"{type(faces).__name__} {getattr(faces, 'dtype', '')}"
        raise ValueError(f"faces must be a uint8 numpy array, got {kind}")
    if faces.ndim != 4 or faces.shape[1:] != (*input_size, 3):
        raise ValueError(f"faces must have shape N×{input_size[0]}×{input_size[1]}×3, got {faces.shape}")


def create_predictor(checkpoint: str | Path, backend: str = "auto", device: str | None = None) -> Predictor:
    """A predictor for a painmon checkpoint.

    backend: "torch", "onnx", or "auto" (torch on CUDA when a GPU is usable or asked for, else ONNX
    Runtime on the CPU).
    device: "cpu", "cuda", "cuda:1", ...; None picks the backend's best. Raises ModelFileError for a bad
    checkpoint and BackendUnavailableError for a backend or device that cannot run here.
    """
    if backend == "auto":
        if device is None:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        backend = "torch" if device.startswith("cuda") else "onnx"
    if backend == "torch":
        from engine.backends.torch_backend import TorchPredictor

        return TorchPredictor(checkpoint, device)
    if backend == "onnx":
        from engine.backends.onnx_backend import OnnxPredictor

        return OnnxPredictor(checkpoint, device)
    raise BackendUnavailableError(f"unknown backend {backend!r}; choose auto, torch or onnx")
