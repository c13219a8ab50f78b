"""Errors the engine raises for conditions a user can fix; the CLI turns them into one-line messages."""

from __future__ import annotations


class PainmonError(Exception):
    """Base class of errors with a message meant for the user."""


class VideoSourceError(PainmonError):
    """A video source is missing, unreadable, or cannot be opened."""


class ModelFileError(PainmonError):
    """A model checkpoint is missing, damaged, or not a painmon checkpoint."""


class WeightsUnavailableError(PainmonError):
    """Pretrained weights could not be downloaded (offline machine) and are not in the local cache."""


class BackendUnavailableError(PainmonError):
    """The requested inference backend cannot run on this machine."""


TORCH_STACK = frozenset({"torch", "torchvision", "facenet_pytorch", "onnx", "onnxscript"})
"""What the painmon[train] and painmon[gpu] extras install; a CPU runtime runs without them."""


class MissingExtraError(BackendUnavailableError):
    """A command or backend needs the PyTorch stack, which this install lacks."""

    @classmethod
    def of(cls, error: ModuleNotFoundError, what: str) -> MissingExtraError | None:
        """The error to show for `error` met while running `what`, when the missing module is part of the
        PyTorch stack; None for any other missing module (a bug, not an install choice)."""
        name = (error.name or "").partition(".")[0]
        if name not in TORCH_STACK:
            return None
        return cls(f"{what} needs the PyTorch stack ({name} is not installed; painmon monitors and analyses "
                   "on the CPU without it): pip install 'painmon[train]' for training, 'painmon[gpu]' for "
                   "the torch and TensorRT backends")
