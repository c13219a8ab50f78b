"""Which backend runs: `auto` picks TensorRT, else PyTorch on CUDA, else ONNX Runtime on the CPU.

TensorRT is chosen when it imports, CUDA initialises (for TensorRT and for torch, whose tensors are the
engine buffers) and, for a given model, verified engines are cached for this GPU. Every step down logs one
line saying why; the reasons also travel with the choice so the app and `painmon analyze` can show them.
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from pathlib import Path

from engine.backends import Backend, backend_named
from engine.errors import BackendUnavailableError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackendChoice:
    """The backend to run, on which device, and why each faster one was passed over."""

    backend: Backend
    device: str
    skipped: tuple[str, ...] = ()


def tensorrt_unavailable(checkpoint: Path | None = None, precision: str = "fp16") -> str | None:
    """Why TensorRT cannot run here (for `checkpoint`, if given), or None when it can."""
    from engine.tensorrt import cuda_unavailable, import_tensorrt
    from engine.tensorrt.builder import make_logger

    try:
        trt = import_tensorrt()
        trt.Runtime(make_logger(trt))
    except BackendUnavailableError as exc:
        return str(exc)
    except TypeError as exc:  # "factory function returned nullptr": no usable CUDA driver or device
        return str(cuda_unavailable(exc))
    try:
        from engine.tensorrt.gpu import cuda_gpu
    except ModuleNotFoundError as exc:
        return f"TensorRT imports but {exc.name} is not installed (painmon[gpu] installs it)"
    gpu = cuda_gpu()
    if gpu is None:
        return "TensorRT imports but torch sees no CUDA GPU for its buffers"
    if checkpoint is not None:
        from engine.tensorrt.engines import engines_cached, model_networks

        if not engines_cached(model_networks(checkpoint), precision, gpu):
            return (f"no verified {precision} TensorRT engines for this model on {gpu.name} yet "
                    "(painmon engine build MODEL, or let the app build them)")
    return None


def _cuda_device() -> str | None:
    """The first CUDA device torch sees; None without one, or without torch (a CPU-only install)."""
    return None if _no_cuda() else "cuda:0"


def _no_cuda() -> str | None:
    """Why torch has no CUDA device here, or None when it has one. Asks the CUDA driver first, so that a
    machine without a GPU never pays for importing torch (seconds and hundreds of MB)."""
    if cuda_driver_devices() == 0:
        return "no CUDA GPU (the CUDA driver reports none)"
    try:
        import torch
    except ModuleNotFoundError:
        return "PyTorch is not installed (painmon[gpu])"
    return None if torch.cuda.is_available() else "torch sees no CUDA GPU"


def cuda_driver_devices() -> int:
    """How many CUDA devices the driver reports, asked of its library directly; 0 without a driver."""
    for name in ("libcuda.so.1", "nvcuda.dll"):
        try:
            driver = ctypes.CDLL(name)
        except OSError:
            continue
        count = ctypes.c_int(0)
        if driver.cuInit(0) == 0 and driver.cuDeviceGetCount(ctypes.byref(count)) == 0:
            return count.value
        return 0
    return 0


def choose_backend(requested: str = Backend.AUTO, checkpoint: Path | None = None,
                   precision: str = "fp16") -> BackendChoice:
    """The backend for `requested` (a `Backend` name).

    An explicit TensorRT that cannot run raises BackendUnavailableError with the reason; auto steps down
    instead, logging one line per step.
    """
    requested = backend_named(requested)
    if requested is Backend.TENSORRT:
        reason = tensorrt_unavailable(checkpoint, precision)
        if reason:
            raise BackendUnavailableError(reason)
        return BackendChoice(Backend.TENSORRT, "cuda:0")
    if requested is Backend.TORCH:
        return BackendChoice(Backend.TORCH, _cuda_device() or "cpu")
    if requested is Backend.ONNX:
        return BackendChoice(Backend.ONNX, "cpu")

    reason = tensorrt_unavailable(checkpoint, precision)
    if reason is None:
        return BackendChoice(Backend.TENSORRT, "cuda:0")
    log.warning("backend auto: not TensorRT: %s", reason)
    skipped = (f"TensorRT: {reason}",)
    why = _no_cuda()
    if why is None:
        return BackendChoice(Backend.TORCH, "cuda:0", skipped)
    log.warning("backend auto: not PyTorch CUDA: %s; using ONNX Runtime on the CPU", why)
    return BackendChoice(Backend.ONNX, "cpu", (*skipped, f"PyTorch CUDA: {why}"))
