"""ONNX → serialized TensorRT plan, with the one API path that works on TensorRT 10.12+ and 11.

Strongly typed network (precision comes from the ONNX: FP32, or FP16-baked by engine.onnx_fp16),
`OnnxParser.parse_from_file` (finds external weights), a workspace limit, one optimisation profile, a
timing cache per GPU, TF32 off (FP32 layers stay IEEE FP32), `build_serialized_network`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.files import write_atomically
from engine.tensorrt import EngineBuildError, cuda_unavailable, import_tensorrt
from engine.tensorrt.profiles import Profile

log = logging.getLogger(__name__)

WORKSPACE_BYTES = 1 << 30
# (phase name, steps done, steps in the phase): called from TensorRT's builder threads.
ProgressCallback = Callable[[str, int, int], None]


class BuildCancelledError(EngineBuildError):
    """A build was cancelled through its cancel event."""


def make_logger(trt: Any) -> Any:
    """A TensorRT logger that forwards to Python logging and keeps the last error for messages."""
    severity = trt.ILogger.Severity
    levels = {
        severity.INTERNAL_ERROR: logging.ERROR,
        severity.ERROR: logging.ERROR,
        severity.WARNING: logging.WARNING,
        severity.INFO: logging.DEBUG,
        severity.VERBOSE: logging.DEBUG,
    }

    class Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.last_error = ""

        def log(self, level: Any, msg: str) -> None:
            python_level = levels.get(level, logging.DEBUG)
            if python_level >= logging.ERROR:
                self.last_error = msg
            log.log(python_level, "TensorRT: %s", msg)

    return Logger()


def _progress_monitor(trt: Any, report: ProgressCallback | None, cancel: threading.Event) -> Any:
    class Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.steps: dict[str, int] = {}
            self.lock = threading.Lock()

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            with self.lock:
                self.steps[phase_name] = num_steps
            if report:
                report(phase_name, 0, num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            if report:
                with self.lock:
                    total = self.steps.get(phase_name, step + 1)
                report(phase_name, step + 1, total)
            return not cancel.is_set()

        def phase_finish(self, phase_name: str) -> None:
            with self.lock:
                self.steps.pop(phase_name, None)

    return Monitor()


def _load_timing_cache(config: Any, path: Path) -> Any:
    blob = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(blob)
    if cache is None and blob:
        log.warning("timing cache %s is unreadable; starting an empty one", path)
        cache = config.create_timing_cache(b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    return cache


def build_plan(
    onnx_path: Path,
    profile: Profile,
    timing_cache: Path,
    *,
    workspace_bytes: int = WORKSPACE_BYTES,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> bytes:
    """Build a serialized engine from an ONNX model with one input; update the timing cache file.

    Raises EngineBuildError when the parser rejects the model (with its messages) or the build fails,
    BuildCancelledError when `cancel` is set during the build.
    """
    trt = import_tensorrt()
    cancel = cancel or threading.Event()
    logger = make_logger(trt)
    try:
        builder = trt.Builder(logger)
    except TypeError as exc:
        raise cuda_unavailable(exc) from exc
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i).desc()) for i in range(parser.num_errors))
        raise EngineBuildError(f"TensorRT cannot parse {onnx_path.name}: {errors or logger.last_error}")
    if network.num_inputs != 1:
        raise EngineBuildError(f"{onnx_path.name} has {network.num_inputs} inputs; painmon networks have one")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    config.clear_flag(trt.BuilderFlag.TF32)
    shapes = builder.create_optimization_profile()
    shapes.set_shape(network.get_input(0).name, profile.min, profile.opt, profile.max)
    config.add_optimization_profile(shapes)
    _load_timing_cache(config, timing_cache)
    monitor = _progress_monitor(trt, progress, cancel)
    config.progress_monitor = monitor

    plan = builder.build_serialized_network(network, config)
    if cancel.is_set():
        raise BuildCancelledError(f"build of {onnx_path.name} cancelled")
    if plan is None:
        reason = logger.last_error or "see the log"
        raise EngineBuildError(f"TensorRT could not build {onnx_path.name}: {reason}")
    timing_cache.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(timing_cache, bytes(memoryview(config.get_timing_cache().serialize())))
    return bytes(memoryview(plan))
