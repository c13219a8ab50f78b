"""The papers' 000/001 recipe: the regressor trained on pain levels with the [loss], [sampling] settings."""

from __future__ import annotations

from pathlib import Path

import torch

from engine.checkpoint import PainModel
from engine.model import PainRegressor
from train.config import TrainConfig
from train.loop import fit
from train.methods.base import TrainingSet


def new_regressor(config: TrainConfig) -> PainRegressor:
    """A freshly initialised regressor for `config` (seeded: every fold starts from the same weights)."""
    torch.manual_seed(config.solver.seed)
    m = config.model
    return PainRegressor(m.backbone, m.pretrained, m.input_size, embed_dim=m.embed_dim, dropout=m.dropout)


def fit_regression(model: PainModel, config: TrainConfig, data: TrainingSet, *, device: torch.device,
                   iterations: int, folder: Path, progress: str | None) -> None:
    """The regression stage every regressor method ends with, resumable from `folder`/snapshot.safetensors."""
    fit(model, config, data.images, data.rows, data.levels, device=device, iterations=iterations,
        snapshot=folder / "snapshot.safetensors", progress=progress)


class Regression:
    """Method `regression`: paper 000/001 (Tables 1–2)."""

    def new_model(self, config: TrainConfig) -> PainModel:
        return new_regressor(config)

    def train(self, model: PainModel, config: TrainConfig, data: TrainingSet, *, device: torch.device,
              iterations: int, folder: Path, progress: str | None) -> None:
        fit_regression(model, config, data, device=device, iterations=iterations, folder=folder,
                       progress=progress)
