"""TensorRT engines for the pain regressor and MTCNN's three networks (TensorRT 10.12+ and 11 API only).

`import tensorrt` happens only through `import_tensorrt()`, so painmon runs without TensorRT installed.
Modules: `profiles` (input shapes each engine is built for), `cache` (plans on disk), `builder` (ONNX →
plan), `runtime` (plan → callable on torch CUDA tensors), `verify` (parity against PyTorch),
`networks` (the four networks), `engines` (cached / built / verified engines, background builds),
`cli` (`painmon engine build|verify|info`).
"""

from __future__ import annotations

from types import ModuleType

from engine.errors import BackendUnavailableError, PainmonError

INSTALL_HINT = "pip install tensorrt-cu13 (NVIDIA driver r580+) or tensorrt-cu12 (driver r535+)"


class EngineBuildError(PainmonError):
    """TensorRT could not parse a model or build an engine from it."""


class EngineVerificationError(PainmonError):
    """A new engine disagrees with PyTorch beyond the tolerances and was refused."""


def cuda_unavailable(exc: TypeError) -> BackendUnavailableError:
    """The error for TensorRT's TypeError ("factory function returned nullptr") when CUDA cannot start."""
    return BackendUnavailableError(f"TensorRT cannot initialise CUDA ({exc})")


def import_tensorrt() -> ModuleType:
    """The `tensorrt` module; BackendUnavailableError with an install hint when it cannot be imported."""
    try:
        import tensorrt
    except ImportError as exc:
        raise BackendUnavailableError(f"TensorRT not installed ({exc}); {INSTALL_HINT}") from exc
    except OSError as exc:  # the bindings are there but their shared libraries are not
        raise BackendUnavailableError(f"TensorRT libraries cannot be loaded ({exc}); {INSTALL_HINT}") from exc
    return tensorrt
