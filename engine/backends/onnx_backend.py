"""ONNX Runtime backend: the checkpoint's cached ONNX export, fast on the CPU."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from engine.backends import check_faces
from engine.checkpoint import read_card
from engine.errors import BackendUnavailableError
from engine.onnx_export import INPUT_NAME, MAX_BATCH, cached_export


def _session_options() -> ort.SessionOptions:
    """All graph optimisations; one intra-op thread per CPU this process may use, none spinning idle.

    Spinning would keep the cores busy between calls, starving the camera and GUI threads on a small CPU.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _providers(device: str) -> list[str | tuple[str, dict[str, str]]]:
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        device_id = device.partition(":")[2] or "0"
        return [("CUDAExecutionProvider", {"device_id": device_id}), "CPUExecutionProvider"]
    raise BackendUnavailableError(
        f"ONNX Runtime cannot run on {device} here (providers: {', '.join(ort.get_available_providers())}); "
        "use device cpu, or the torch backend for a GPU"
    )


class OnnxPredictor:
    """Runs a checkpoint through ONNX Runtime, at most MAX_BATCH faces per call."""

    name = "onnx"

    def __init__(self, checkpoint: str | Path, device: str | None = None) -> None:
        self.device = device or "cpu"
        providers = _providers(self.device)
        self.card = read_card(checkpoint)
        self.input_size = self.card.input_size
        self.onnx_path = cached_export(checkpoint)
        self.session = ort.InferenceSession(str(self.onnx_path), _session_options(), providers=providers)

    def predict(self, faces: np.ndarray) -> np.ndarray:
        """faces: N×h×w×3 RGB uint8 (N may be 0) → (N,) float32 scores in [0, 5]."""
        check_faces(faces, self.input_size)
        scores = np.empty(len(faces), dtype=np.float32)
        for start in range(0, len(faces), MAX_BATCH):
            chunk = faces[start : start + MAX_BATCH]
            batch = np.ascontiguousarray(chunk.transpose(0, 3, 1, 2), dtype=np.float32)
            scores[start : start + len(chunk)] = self.session.run(None, {INPUT_NAME: batch})[0]
        return scores
