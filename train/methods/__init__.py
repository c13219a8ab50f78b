"""Training methods a config selects with `method = "..."`: the objects of train.config.REGISTRY's lines."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from train.config import REGISTRY
from train.methods.base import Frames, HeldOut, Method, TrainingSet


def _build(implementation: str) -> Method[Any]:
    module, _, name = implementation.partition(":")
    return getattr(import_module(module), name)()


METHODS: dict[str, Method[Any]] = {name: _build(entry.implementation) for name, entry in REGISTRY.items()}
"""Each method's object, by its name."""

__all__ = ["METHODS", "Frames", "HeldOut", "Method", "TrainingSet"]
