"""Errors the engine raises for conditions a user can fix; the CLI turns them into one-line messages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


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


@contextmanager
def needing_torch_stack(what: str) -> Iterator[None]:
    """Run the block; a missing module of the PyTorch stack met in it becomes a MissingExtraError saying that
    `what` needs it and how to install it. Any other missing module (a bug, not an install choice) passes."""
    try:
        yield
    except ModuleNotFoundError as error:
        name = (error.name or "").partition(".")[0]
        if name not in TORCH_STACK:
            raise
        raise MissingExtraError(
            f"{what} needs the PyTorch stack ({name} is not installed; painmon monitors and analyses on the "
            "CPU without it): pip install 'painmon[train]' for training, 'painmon[gpu]' for the torch and "
            "TensorRT backends") from None
