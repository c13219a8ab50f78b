"""Training methods a config selects with `method = "..."` (train.config.METHOD_SECTIONS lists them)."""

from __future__ import annotations

from train.methods.au import AU
from train.methods.base import Method, TrainingSet
from train.methods.fn2en import FaceNet2ExpNet
from train.methods.regression import Regression
from train.methods.saliency import Saliency

METHODS: dict[str, Method] = {"regression": Regression(), "saliency": Saliency(), "fn2en": FaceNet2ExpNet(),
                             "au": AU()}

__all__ = ["METHODS", "Method", "TrainingSet"]
