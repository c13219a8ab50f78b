"""The papers' 000/001 recipe: the regressor trained on pain levels with the [loss], [sampling] settings.

`Regression` is also the base of every method whose model is the regressor: they build and train it their own
way, but use its AU columns and held-out predictions (pain scores only, no other outputs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.au import DEFAULT_AUS
from engine.model import PainRegressor
from train.config import TrainConfig
from train.loop import fit, predict
from train.methods.base import HeldOut, ReportExtras, TrainingSet


def new_regressor(config: TrainConfig) -> PainRegressor:
    """A freshly initialised regressor for `config` (seeded: every fold starts from the same weights)."""
    torch.manual_seed(config.solver.seed)
    m = config.model
    return PainRegressor(m.backbone, m.pretrained, m.input_size, embed_dim=m.embed_dim, dropout=m.dropout)


def fit_regression(model: PainRegressor, config: TrainConfig, data: TrainingSet, *, device: torch.device,
                   iterations: int, folder: Path, progress: str | None) -> None:
    """The regression stage every regressor method ends with, resumable from `folder`/snapshot.safetensors."""
    fit(model, config, data.images, data.rows, data.levels, device=device, iterations=iterations,
        snapshot=folder / "snapshot.safetensors", progress=progress)


class Regression:
    """Method `regression`: paper 000/001 (Tables 1–2)."""

    def au_numbers(self, config: TrainConfig) -> tuple[int, ...]:
        return DEFAULT_AUS

    def new_model(self, config: TrainConfig) -> PainRegressor:
        return new_regressor(config)

    def train(self, model: PainRegressor, config: TrainConfig, data: TrainingSet, *, device: torch.device,
              iterations: int, folder: Path, progress: str | None) -> None:
        fit_regression(model, config, data, device=device, iterations=iterations, folder=folder,
                       progress=progress)

    def predict_held_out(self, model: PainRegressor, config: TrainConfig, held_out: HeldOut, folder: Path, *,
                         device: torch.device) -> np.ndarray:
        return predict(model, held_out.images, held_out.rows, device=device)

    def merge_held_out(self, out: Path, folds: list[str]) -> ReportExtras:
        return ReportExtras()
