"""A pain model's outputs by name, all from one forward pass: what ONNX exports, engines and backends share
(engine.model.ModelOutputs returns them in this order).

Every model gives pain scores (N,) in [0, 5]; a model with an AU head (engine.au.AUPainModel) also gives
its AU probabilities (N, K), one column per AU in the order of `model.aus`; every model last gives the
features (N, D) in which engine.applicability tells whether a face is like the model's training faces: the
texture of its backbone's early, described stages (engine.backbones; an ensemble's first member's).
"""

from __future__ import annotations

from collections.abc import Sequence

SCORES = "scores"  # float32 (N,) in [0, 5]
AUS = "aus"  # float32 (N, K) AU probabilities in [0, 1]
FEATURES = "features"  # float32 (N, D) the texture of the backbone's described stages


def output_names(aus: Sequence[int]) -> tuple[str, ...]:
    """The names of the outputs of a model with AUs `aus` (empty: none), in the order they come."""
    return (SCORES, AUS, FEATURES) if aus else (SCORES, FEATURES)
