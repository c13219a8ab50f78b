"""A pain model's outputs by name, all from one forward pass: what ONNX exports, engines and backends share.

Every model gives pain scores (N,) in [0, 5]; a model with an AU head (engine.au.AUPainModel) also gives
its AU probabilities (N, K), one column per AU in the order of `model.aus`; every model last gives the
features (N, D) in which engine.applicability tells whether a face is like the model's training faces: the
texture of its backbone's early, described stages (engine.backbones; an ensemble's first member's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from torch import Tensor, nn

if TYPE_CHECKING:
    from engine.checkpoint import PainModel

SCORES = "scores"  # float32 (N,) in [0, 5]
AUS = "aus"  # float32 (N, K) AU probabilities in [0, 1]
FEATURES = "features"  # float32 (N, D) the texture of the backbone's described stages


def output_names(aus: Sequence[int]) -> tuple[str, ...]:
    """The names of the outputs of a model with AUs `aus` (empty: none), in the order ModelOutputs returns."""
    return (SCORES, AUS, FEATURES) if aus else (SCORES, FEATURES)


class ModelOutputs(nn.Module):
    """Wraps a pain model so that forward returns all its outputs as a tuple, in `output_names` order."""

    def __init__(self, model: PainModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """(scores, features) or (scores, AU probabilities, features) for float32 N×3×h×w RGB faces in
        0..255."""
        return self.model.forward_with_features(x)
