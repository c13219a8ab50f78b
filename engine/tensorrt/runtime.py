"""A deserialized TensorRT engine as a callable on torch tensors.

Device memory comes from torch: the input and output buffers are torch CUDA tensors in torch's own primary
context (no pycuda, see the README's GPU section), preallocated per thread for the profile's largest input.
Every thread that calls an engine gets its own execution context and its own non-default CUDA stream;
tensor addresses are bound once, and each call is `set_input_shape` → copy in → `execute_async_v3` → sync
→ copy out.
"""

from __future__ import annotations

import contextlib
import math
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch

from engine.tensorrt import cuda_unavailable, import_tensorrt
from engine.tensorrt.builder import make_logger
from engine.tensorrt.profiles import Profile


def _torch_dtype(trt: ModuleType, dtype: Any) -> torch.dtype:
    table = {
        trt.DataType.FLOAT: torch.float32,
        trt.DataType.HALF: torch.float16,
        trt.DataType.INT32: torch.int32,
        trt.DataType.INT64: torch.int64,
    }
    if dtype not in table:
        raise TypeError(f"engine tensor type {dtype} is not one painmon networks use")
    return table[dtype]


@dataclass
class _Slot:
    """One thread's execution context, stream and preallocated buffers (flat, viewed per call)."""

    context: Any
    stream: torch.cuda.Stream | None
    buffers: dict[str, torch.Tensor]

    @property
    def handle(self) -> int:
        return self.stream.cuda_stream if self.stream is not None else 0

    def scope(self) -> contextlib.AbstractContextManager[object]:
        return torch.cuda.stream(self.stream) if self.stream is not None else contextlib.nullcontext()


class TensorRTNet:
    """One engine with one input; `net(x)` returns its outputs by name, as torch tensors on `device`.

    `device` is a CUDA device in use; host memory ("cpu") only serves the fake tensorrt module in tests.
    """

    def __init__(self, runtime: Any, engine: Any, logger: Any, device: torch.device):
        trt = import_tensorrt()
        self._runtime, self._engine, self._logger = runtime, engine, logger  # all must outlive the engine
        self.device = torch.device(device)
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        if len(inputs) != 1:
            raise ValueError(f"engine has inputs {inputs}; painmon networks have one")
        self.input_name = inputs[0]
        self.output_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self.dtypes = {n: _torch_dtype(trt, engine.get_tensor_dtype(n)) for n in names}
        shapes = engine.get_tensor_profile_shape(self.input_name, 0)
        self.profile = Profile(*(tuple(int(d) for d in shape) for shape in shapes))
        self._local = threading.local()

    @classmethod
    def from_plan(cls, plan: bytes, device: torch.device | str) -> TensorRTNet | None:
        """Deserialize a plan; None when TensorRT cannot (other TensorRT version or GPU, damaged file).

        Raises BackendUnavailableError when CUDA cannot initialise.
        """
        trt = import_tensorrt()
        logger = make_logger(trt)
        try:
            runtime = trt.Runtime(logger)
        except TypeError as exc:
            raise cuda_unavailable(exc) from exc
        engine = runtime.deserialize_cuda_engine(plan)
        return None if engine is None else cls(runtime, engine, logger, torch.device(device))

    def _slot(self) -> _Slot:
        slot = getattr(self._local, "slot", None)
        if slot is None:
            slot = self._local.slot = self._new_slot()
        return slot

    def _new_slot(self) -> _Slot:
        context = self._engine.create_execution_context()
        if not context.set_input_shape(self.input_name, self.profile.max):
            raise RuntimeError(f"TensorRT refused the profile's largest input {self.profile.max}")
        buffers = {}
        for name in [self.input_name, *self.output_names]:
            size = math.prod(int(d) for d in context.get_tensor_shape(name))
            buffers[name] = torch.empty(size, dtype=self.dtypes[name], device=self.device)
            if not context.set_tensor_address(name, buffers[name].data_ptr()):
                raise RuntimeError(f"TensorRT refused the buffer address of {name}")
        stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None
        return _Slot(context, stream, buffers)

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run the engine on `x` (any batch size: batches above the profile run in chunks)."""
        chunks = [self._run(part) for part in x.split(self.profile.max[0])]
        return {name: torch.cat([chunk[name] for chunk in chunks]) for name in self.output_names}

    def _run(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        shape = tuple(x.shape)
        if not self.profile.admits(shape):
            raise ValueError(f"input shape {shape} is outside the engine's profile {self.profile.as_dict()}")
        slot = self._slot()
        if not slot.context.set_input_shape(self.input_name, shape):
            raise RuntimeError(f"TensorRT refused input shape {shape}")
        if slot.stream is not None:
            slot.stream.wait_stream(torch.cuda.current_stream(self.device))  # x may still be in the making
        with slot.scope():
            staged = slot.buffers[self.input_name][: x.numel()].view(shape)
            staged.copy_(x.to(self.device, self.dtypes[self.input_name]), non_blocking=True)
            if not slot.context.execute_async_v3(slot.handle):
                raise RuntimeError("TensorRT execution failed (see the log)")
        if slot.stream is not None:
            slot.stream.synchronize()
        outputs = {}
        for name in self.output_names:
            out_shape = tuple(int(d) for d in slot.context.get_tensor_shape(name))
            outputs[name] = slot.buffers[name][: math.prod(out_shape)].view(out_shape).clone()
        return outputs
