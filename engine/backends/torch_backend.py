"""PyTorch backend (CPU or CUDA): the reference every other backend is checked against."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.applicability import Applicability
from engine.backends import Backend, Prediction, Predictor, check_faces, predict_in_chunks
from engine.checkpoint import load_checkpoint
from engine.errors import BackendUnavailableError
from engine.model import ModelOutputs


class TorchPredictor(Predictor):
    """Runs a checkpoint's pain model in eager PyTorch, `batch_size` faces at a time."""

    name = Backend.TORCH

    def __init__(self, checkpoint: str | Path, device: str | None = None, batch_size: int = 64) -> None:
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailableError(
                f"device {device} requested but PyTorch sees no usable CUDA GPU here; use the onnx backend"
            )
        self.device = device
        self.batch_size = batch_size
        self.model, self.card = load_checkpoint(checkpoint, device)
        self.applicability: Applicability | None = None  # create_predictor reads it
        self.input_size = self.model.input_size
        self.aus = self.model.aus
        self._outputs = ModelOutputs(self.model)

    def predict_outputs(self, faces: np.ndarray) -> Prediction:
        """faces: N×h×w×3 RGB uint8 (N may be 0) → scores, AU probabilities (or None) and features."""
        check_faces(faces, self.input_size)
        return predict_in_chunks(faces, self.batch_size, len(self.aus), self._run)

    @torch.inference_mode()
    def _run(self, faces: np.ndarray) -> list[np.ndarray]:
        # Move uint8 to the device (4× less to copy), then lay out as N×3×h×w float32 there.
        batch = torch.from_numpy(faces).to(self.device).permute(0, 3, 1, 2).float().contiguous()
        return [output.cpu().numpy() for output in self._outputs(batch)]
