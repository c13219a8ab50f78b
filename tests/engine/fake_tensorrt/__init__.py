"""A small stand-in for the `tensorrt` package, for testing painmon's TensorRT glue without TensorRT.

It offers only the TensorRT 10.12+/11 API painmon uses (every removed API is simply absent, so calling one
fails), records every call in `calls`, and fails the way TensorRT does: `parse_from_file` returns False with
parser errors for a model it cannot read, `deserialize_cuda_engine` returns None for a plan it did not
build, `Runtime`/`Builder` raise TypeError when `state.cuda` is False, a build without an optimisation
profile for a dynamic input returns None. Engines "run" the ONNX model with ONNX Runtime on host memory at
the addresses they are given; `state.output_error` is added to every output to make a wrong engine.
Install it with `install(monkeypatch)`; `reset()` restores the defaults.
"""

from __future__ import annotations

import ctypes
import enum
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

__version__ = "10.13.0.fake"
PLAN_MAGIC = b"FAKETRTPLAN\0"
TIMING_MAGIC = b"FAKETIMING\0"
NULLPTR = "pybind11::init(): factory function returned nullptr"


@dataclass
class State:
    """What the fake does: whether CUDA initialises, and how wrong engine outputs are."""

    cuda: bool = True
    output_error: float = 0.0


state = State()
calls: list[tuple[Any, ...]] = []
_lock = threading.Lock()


def reset() -> None:
    """Forget recorded calls and restore the default behaviour."""
    vars(state).update(vars(State()))
    calls.clear()


def install(monkeypatch: Any) -> Any:
    """Make `import tensorrt` return this module for the rest of a test (fresh state)."""
    import sys

    reset()
    monkeypatch.setitem(sys.modules, "tensorrt", sys.modules[__name__])
    return sys.modules[__name__]


def _record(*entry: Any) -> None:
    with _lock:
        calls.append(entry)


def called(name: str) -> list[tuple[Any, ...]]:
    """The recorded calls of one API, each as (name, *arguments)."""
    return [entry for entry in calls if entry[0] == name]


class NetworkDefinitionCreationFlag(enum.IntEnum):
    STRONGLY_TYPED = 1


class MemoryPoolType(enum.IntEnum):
    WORKSPACE = 0


class BuilderFlag(enum.IntEnum):
    TF32 = 6


class TensorIOMode(enum.Enum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class DataType(enum.Enum):
    FLOAT = 0
    HALF = 1
    INT32 = 3
    INT64 = 8


_ONNX_TYPES = {onnx.TensorProto.FLOAT: DataType.FLOAT, onnx.TensorProto.FLOAT16: DataType.HALF,
               onnx.TensorProto.INT32: DataType.INT32, onnx.TensorProto.INT64: DataType.INT64}
_NUMPY_TYPES = {DataType.FLOAT: np.float32, DataType.HALF: np.float16, DataType.INT32: np.int32,
                DataType.INT64: np.int64}


class ILogger:
    class Severity(enum.IntEnum):
        INTERNAL_ERROR = 0
        ERROR = 1
        WARNING = 2
        INFO = 3
        VERBOSE = 4

    def __init__(self) -> None:
        pass

    def log(self, severity: ILogger.Severity, msg: str) -> None:
        raise NotImplementedError


class Logger(ILogger):
    WARNING = ILogger.Severity.WARNING

    def __init__(self, min_severity: ILogger.Severity = ILogger.Severity.WARNING) -> None:
        super().__init__()

    def log(self, severity: ILogger.Severity, msg: str) -> None:
        pass


class IProgressMonitor:
    def __init__(self) -> None:
        pass


def _require_cuda() -> None:
    if not state.cuda:
        raise TypeError(NULLPTR)


# ---------------------------------------------------------------- builder side


@dataclass
class ITensor:
    name: str
    shape: tuple[int, ...]
    dtype: DataType


class INetworkDefinition:
    def __init__(self, flags: int) -> None:
        self.flags = flags
        self.onnx_path: Path | None = None
        self.inputs: list[ITensor] = []

    @property
    def num_inputs(self) -> int:
        return len(self.inputs)

    def get_input(self, index: int) -> ITensor:
        return self.inputs[index]


@dataclass
class IParserError:
    message: str

    def desc(self) -> str:
        return self.message


class OnnxParser:
    def __init__(self, network: INetworkDefinition, logger: ILogger) -> None:
        self.network, self.logger = network, logger
        self.errors: list[IParserError] = []

    @property
    def num_errors(self) -> int:
        return len(self.errors)

    def get_error(self, index: int) -> IParserError:
        return self.errors[index]

    def parse_from_file(self, path: str) -> bool:
        _record("parse_from_file", path)
        try:
            model = onnx.load(path)  # reads external data the way the real parser finds it
            onnx.checker.check_model(model)
        except Exception as exc:
            self.errors.append(IParserError(f"ModelImporter: failed to parse {path}: {exc}"))
            return False
        self.network.onnx_path = Path(path)
        init = {tensor.name for tensor in model.graph.initializer}
        for value in model.graph.input:
            if value.name in init:
                continue
            kind = value.type.tensor_type
            dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in kind.shape.dim)
            self.network.inputs.append(ITensor(value.name, dims, _ONNX_TYPES[kind.elem_type]))
        return True


class IOptimizationProfile:
    def __init__(self) -> None:
        self.shapes: dict[str, tuple[tuple[int, ...], ...]] = {}

    def set_shape(self, name: str, low: Any, opt: Any, high: Any) -> None:
        _record("set_shape", name, tuple(low), tuple(opt), tuple(high))
        self.shapes[name] = (tuple(low), tuple(opt), tuple(high))


class ITimingCache:
    def __init__(self, entries: int) -> None:
        self.entries = entries

    def serialize(self) -> bytes:
        return TIMING_MAGIC + json.dumps({"entries": self.entries}).encode()


class IBuilderConfig:
    def __init__(self) -> None:
        self.profiles: list[IOptimizationProfile] = []
        self.timing_cache: ITimingCache | None = None
        self.progress_monitor: IProgressMonitor | None = None
        self.flags = {BuilderFlag.TF32}

    def set_memory_pool_limit(self, pool: MemoryPoolType, size: int) -> None:
        _record("set_memory_pool_limit", pool, size)

    def clear_flag(self, flag: BuilderFlag) -> None:
        _record("clear_flag", flag)
        self.flags.discard(flag)

    def add_optimization_profile(self, profile: IOptimizationProfile) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def create_timing_cache(self, blob: bytes) -> ITimingCache | None:
        blob = bytes(blob)
        _record("create_timing_cache", len(blob))
        if not blob:
            return ITimingCache(0)
        if not blob.startswith(TIMING_MAGIC):
            return None
        return ITimingCache(json.loads(blob[len(TIMING_MAGIC):])["entries"])

    def set_timing_cache(self, cache: ITimingCache, ignore_mismatch: bool) -> bool:
        self.timing_cache = cache
        return True

    def get_timing_cache(self) -> ITimingCache | None:
        return self.timing_cache


class Builder:
    def __init__(self, logger: ILogger) -> None:
        _require_cuda()
        self.logger = logger

    def create_network(self, flags: int) -> INetworkDefinition:
        _record("create_network", flags)
        return INetworkDefinition(flags)

    def create_builder_config(self) -> IBuilderConfig:
        return IBuilderConfig()

    def create_optimization_profile(self) -> IOptimizationProfile:
        return IOptimizationProfile()

    def build_serialized_network(self, network: INetworkDefinition, config: IBuilderConfig) -> bytes | None:
        _record("build_serialized_network", str(network.onnx_path))
        shapes: dict[str, Any] = {}
        for profile in config.profiles:
            shapes.update(profile.shapes)
        for tensor in network.inputs:
            if -1 in tensor.shape and tensor.name not in shapes:
                self.logger.log(ILogger.Severity.ERROR, f"{tensor.name}: dynamic input without a profile")
                return None
        monitor = config.progress_monitor
        if monitor is not None:
            monitor.phase_start("Building engine", None, 2)
            for step in range(2):
                if not monitor.step_complete("Building engine", step):
                    monitor.phase_finish("Building engine")
                    self.logger.log(ILogger.Severity.ERROR, "build cancelled by the progress monitor")
                    return None
            monitor.phase_finish("Building engine")
        if config.timing_cache is not None:
            config.timing_cache.entries += 1
        header = {"version": __version__, "onnx": str(network.onnx_path), "flags": network.flags,
                  "tf32": BuilderFlag.TF32 in config.flags,
                  "profiles": {name: [list(s) for s in value] for name, value in shapes.items()}}
        return PLAN_MAGIC + json.dumps(header).encode()


# ---------------------------------------------------------------- runtime side


class ICudaEngine:
    def __init__(self, header: dict[str, Any]) -> None:
        self.header = header
        self.session = ort.InferenceSession(header["onnx"], providers=["CPUExecutionProvider"])
        self.graph = onnx.load(header["onnx"], load_external_data=False)
        self.inputs = [v.name for v in self.session.get_inputs()]
        self.outputs = [v.name for v in self.session.get_outputs()]
        values = [*self.graph.graph.input, *self.graph.graph.output]
        self.types = {v.name: _ONNX_TYPES[v.type.tensor_type.elem_type] for v in values}
        self._shapes: dict[tuple[int, ...], dict[str, tuple[int, ...]]] = {}

    @property
    def num_io_tensors(self) -> int:
        return len(self.inputs) + len(self.outputs)

    def get_tensor_name(self, index: int) -> str:
        return [*self.inputs, *self.outputs][index]

    def get_tensor_mode(self, name: str) -> TensorIOMode:
        return TensorIOMode.INPUT if name in self.inputs else TensorIOMode.OUTPUT

    def get_tensor_dtype(self, name: str) -> DataType:
        return self.types[name]

    def get_tensor_profile_shape(self, name: str, profile_index: int) -> list[tuple[int, ...]]:
        return [tuple(shape) for shape in self.header["profiles"][name]]

    def create_execution_context(self) -> IExecutionContext:
        _record("create_execution_context", threading.get_ident())
        return IExecutionContext(self)

    def output_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """Output shapes for an input shape, by ONNX shape inference on the graph with that input fixed."""
        if shape not in self._shapes:
            model = onnx.ModelProto()
            model.CopyFrom(self.graph)
            dims = model.graph.input[0].type.tensor_type.shape.dim
            for dim, size in zip(dims, shape, strict=True):
                dim.dim_value = size
            del model.graph.value_info[:]
            for value in model.graph.output:
                value.type.tensor_type.ClearField("shape")
            inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True).graph.output
            self._shapes[shape] = {
                v.name: tuple(d.dim_value for d in v.type.tensor_type.shape.dim) for v in inferred
            }
        return self._shapes[shape]


class IExecutionContext:
    def __init__(self, engine: ICudaEngine) -> None:
        self.engine = engine
        self.input_shape: tuple[int, ...] | None = None
        self.addresses: dict[str, int] = {}

    def set_input_shape(self, name: str, shape: Any) -> bool:
        shape = tuple(shape)
        _record("set_input_shape", name, shape)
        low, _, high = self.engine.get_tensor_profile_shape(name, 0)
        if len(shape) != len(high) or any(not a <= s <= b for a, s, b in zip(low, shape, high, strict=True)):
            return False
        self.input_shape = shape
        return True

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        if self.input_shape is None:
            return tuple(-1 for _ in self.engine.header["profiles"][self.engine.inputs[0]][0])
        if name in self.engine.inputs:
            return self.input_shape
        return self.engine.output_shapes(self.input_shape)[name]

    def set_tensor_address(self, name: str, address: int) -> bool:
        _record("set_tensor_address", name)
        self.addresses[name] = address
        return True

    def _view(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        dtype = np.dtype(_NUMPY_TYPES[self.engine.types[name]])
        size = int(np.prod(shape)) * dtype.itemsize
        raw = (ctypes.c_char * size).from_address(self.addresses[name])
        return np.frombuffer(raw, dtype=dtype).reshape(shape)

    def execute_async_v3(self, stream_handle: int) -> bool:
        _record("execute_async_v3", stream_handle, threading.get_ident())
        names = [*self.engine.inputs, *self.engine.outputs]
        if self.input_shape is None or any(name not in self.addresses for name in names):
            return False
        feed = {self.engine.inputs[0]: self._view(self.engine.inputs[0], self.input_shape).copy()}
        results = self.engine.session.run(self.engine.outputs, feed)
        for name, value in zip(self.engine.outputs, results, strict=True):
            self._view(name, self.get_tensor_shape(name))[...] = value + state.output_error
        return True


class Runtime:
    def __init__(self, logger: ILogger) -> None:
        _require_cuda()
        self.logger = logger

    def deserialize_cuda_engine(self, plan: bytes) -> ICudaEngine | None:
        plan = bytes(plan)
        _record("deserialize_cuda_engine", len(plan))
        try:
            if not plan.startswith(PLAN_MAGIC):
                raise ValueError("magic tag does not match")
            header = json.loads(plan[len(PLAN_MAGIC):])
            if header["version"] != __version__:
                raise ValueError(f"plan version {header['version']} does not match {__version__}")
        except ValueError as exc:
            self.logger.log(ILogger.Severity.ERROR, f"IRuntime::deserializeCudaEngine: {exc}")
            return None
        return ICudaEngine(header)
