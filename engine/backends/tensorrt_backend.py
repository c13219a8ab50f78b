"""TensorRT backend: the pain model as a verified engine, and MTCNN's networks as drop-in engines.

Engines come from the plan cache (`painmon engine build MODEL`, or the app's background build); this module
never builds. The MTCNN nets take and return what facenet-pytorch's PNet/RNet/ONet do, so a detector can
swap them into its `MTCNN` (`mtcnn.pnet = nets["pnet"]`, …) and keep the pyramid, box decoding and NMS in
facenet-pytorch's torch code on the GPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.applicability import Applicability
from engine.backends import Backend, Prediction, Predictor, check_faces, predict_in_chunks
from engine.errors import BackendUnavailableError
from engine.model_card import ModelCard, read_card
from engine.outputs import output_names
from engine.tensorrt.engines import EngineSet, cached_engine
from engine.tensorrt.gpu import Gpu, cuda_gpu
from engine.tensorrt.networks import mtcnn_networks, regressor_network
from engine.tensorrt.runtime import TensorRTNet


def _gpu() -> Gpu:
    gpu = cuda_gpu()
    if gpu is None:
        raise BackendUnavailableError("TensorRT needs a CUDA GPU and torch sees none")
    return gpu


def _missing(what: str, precision: str) -> BackendUnavailableError:
    return BackendUnavailableError(
        f"no verified {precision} TensorRT engine for {what} on this GPU: run painmon engine build MODEL")


class TensorRTPredictor(Predictor):
    """Scores aligned faces with the pain model's engine (and gives its AU probabilities when it has them)."""

    name = Backend.TENSORRT

    def __init__(self, net: TensorRTNet, card: ModelCard):
        self._net = net
        self.card = card
        self.applicability: Applicability | None = None  # create_predictor reads it
        self.device = str(net.device)
        self.input_size = card.input_size
        self.aus = tuple(card.aus)
        self._outputs = output_names(self.aus)  # the engine is built from the checkpoint's ONNX export

    @classmethod
    def from_cache(cls, checkpoint: str | Path, precision: str = "fp16") -> TensorRTPredictor:
        """The predictor for a checkpoint whose engine was built and verified on this GPU."""
        net = cached_engine(regressor_network(Path(checkpoint)), precision, _gpu())
        if net is None:
            raise _missing(Path(checkpoint).name, precision)
        return cls(net, read_card(checkpoint))

    @classmethod
    def from_engines(cls, engines: EngineSet, checkpoint: str | Path) -> TensorRTPredictor:
        """The predictor for a finished (e.g. background) build of `checkpoint`."""
        return cls(engines.nets["regressor"], read_card(checkpoint))

    def predict_outputs(self, faces: np.ndarray) -> Prediction:
        """faces: N×h×w×3 RGB uint8 (N may be 0) → scores, AU probabilities (or None) and features."""
        check_faces(faces, self.input_size)
        return predict_in_chunks(faces, self._net.profile.max[0], len(self.aus), self._run)

    def _run(self, faces: np.ndarray) -> list[np.ndarray]:
        x = torch.from_numpy(faces).to(self._net.device).permute(0, 3, 1, 2).float()
        out = self._net(x)
        return [out[name].float().cpu().numpy() for name in self._outputs]


class MTCNNEngine(torch.nn.Module):
    """An engine standing in for facenet-pytorch's PNet, RNet or ONet: same input, same output tuple."""

    def __init__(self, net: TensorRTNet, output_names: tuple[str, ...]):
        super().__init__()
        self._net, self._outputs = net, output_names
        # facenet-pytorch casts its input to the dtype of the net's first parameter: the engine's input type
        self.input_dtype = torch.nn.Parameter(torch.empty(0, dtype=net.dtypes[net.input_name]),
                                              requires_grad=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self._net(x)
        return tuple(out[name] for name in self._outputs)


def tensorrt_mtcnn(precision: str = "fp16", engines: EngineSet | None = None) -> dict[str, MTCNNEngine]:
    """PNet, RNet and ONet engines by name, from a finished build or else from the plan cache."""
    nets = {}
    for spec in mtcnn_networks():
        net = engines.nets[spec.name] if engines else cached_engine(spec, precision, _gpu())
        if net is None:
            raise _missing(f"MTCNN {spec.name}", precision)
        nets[spec.name] = MTCNNEngine(net, spec.output_names)
    return nets
