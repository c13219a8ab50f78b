"""PyTorch backend (CPU or CUDA): the reference every other backend is checked against."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.backends import check_faces
from engine.checkpoint import load_checkpoint
from engine.errors import BackendUnavailableError


class TorchPredictor:
    """Runs a checkpoint's PainRegressor in eager PyTorch, `batch_size` faces at a time."""

    name = "torch"

    def __init__(self, checkpoint: str | Path, device: str | None = None, batch_size: int = 64) -> None:
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailableError(
                f"device {device} requested but PyTorch sees no usable CUDA GPU here; use the onnx backend"
            )
        self.device = device
        self.batch_size = batch_size
        self.model, self.card = load_checkpoint(checkpoint, device)
        self.input_size = self.model.input_size

    @torch.inference_mode()
    def predict(self, faces: np.ndarray) -> np.ndarray:
        """faces: N×h×w×3 RGB uint8 (N may be 0) → (N,) float32 scores in [0, 5]."""
        check_faces(faces, self.input_size)
        scores = np.empty(len(faces), dtype=np.float32)
        for start in range(0, len(faces), self.batch_size):
            # Move uint8 to the device (4× less to copy), then lay out as N×3×h×w float32 there.
            chunk = torch.from_numpy(faces[start : start + self.batch_size]).to(self.device)
            batch = chunk.permute(0, 3, 1, 2).float().contiguous()
            scores[start : start + len(chunk)] = self.model(batch).cpu().numpy()
        return scores
