"""ONNX Runtime backend: the checkpoint's ONNX graph (engine.model_onnx), fast on the CPU, without torch."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from engine.applicability import Applicability
from engine.backends import Backend, Prediction, Predictor, check_faces, predict_in_chunks
from engine.errors import BackendUnavailableError
from engine.model_card import read_card
from engine.model_onnx import INPUT_NAME, MAX_BATCH, open_session
from engine.outputs import output_names


def session_options() -> ort.SessionOptions:
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


class OnnxPredictor(Predictor):
    """Runs a checkpoint through ONNX Runtime, at most MAX_BATCH faces per call."""

    name = Backend.ONNX

    def __init__(self, checkpoint: str | Path, device: str | None = None) -> None:
        self.device = device or "cpu"
        providers = _providers(self.device)
        self.card = read_card(checkpoint)
        self.applicability: Applicability | None = None  # create_predictor reads it
        self.input_size = self.card.input_size
        self.aus = tuple(self.card.aus)
        self.session, self.onnx_path = open_session(checkpoint, session_options(), providers)
        self._outputs = list(output_names(self.aus))

    def predict_outputs(self, faces: np.ndarray) -> Prediction:
        """faces: N×h×w×3 RGB uint8 (N may be 0) → scores, AU probabilities (or None) and features."""
        check_faces(faces, self.input_size)
        return predict_in_chunks(faces, MAX_BATCH, len(self.aus), self._run)

    def _run(self, faces: np.ndarray) -> list[np.ndarray]:
        batch = np.ascontiguousarray(faces.transpose(0, 3, 1, 2), dtype=np.float32)
        return self.session.run(self._outputs, {INPUT_NAME: batch})
