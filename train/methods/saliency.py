"""Method `saliency`: paper 002, triplet pre-training with saliency supervision, then the regression.

Pre-training (paper §3.3 and §4), per iteration on a batch of the uniform class sampler (so every level has
partners): batch-hard triplets are mined on the backbone's pooled, L2-normalised features; a global step
(SGD at `global_lr`) on the global triplet loss (eq. 6); then, unless `local = false` (the paper's method 1),
a local step (SGD at `local_lr`) on the same triplets: the deconvolution group's weights are copied from the
updated backbone, the saliency maps of the batch are computed, and the local loss (eqs. 2–5) of their AU
patches is descended. Both steps update only the backbone, each with its own momentum and the [solver]'s
weight decay; the pre-training runs in float32 on every device. Then the [loss] regression fine-tunes the
whole network (`fit_regression`).

The pre-training snapshots into the fold folder (`saliency_snapshot.safetensors`: model, both optimizers'
momentum, iterations done); when it has finished, the snapshot stays, marked complete, until the regression
has finished too, so a killed run never redoes a finished stage.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from engine.errors import PainmonError
from engine.model import PainRegressor
from train.config import SaliencyConfig, TrainConfig
from train.deconv import DeconvGroup, check_backbone
from train.loop import TrainState, sgd_optimizer, sgd_step, training_batch
from train.methods.base import TrainingSet
from train.methods.regression import Regression, fit_regression, new_regressor
from train.saliency import au_histograms, flip_landmarks, local_loss
from train.sampling import batches, uniform_class_stream
from train.triplets import au_sets, global_triplet_loss, mine_batch_hard

SNAPSHOT = "saliency_snapshot.safetensors"
"""The pre-training stage's snapshot in the fold folder."""


_FLOAT32 = torch.amp.GradScaler(enabled=False)  # the pre-training runs in float32 on every device


@dataclass
class _Alternation:
    """What every pre-training iteration uses; `step` runs one."""

    model: PainRegressor
    settings: SaliencyConfig
    optimizers: dict[str, torch.optim.SGD]
    group: DeconvGroup | None  # None: global steps only (method 1)
    au_numbers: tuple[int, ...]

    def step(self, x: torch.Tensor, landmarks: torch.Tensor, levels: torch.Tensor, aus: torch.Tensor,
             iteration: int) -> dict[str, float]:
        """Mine triplets in a batch (RGB 0..255), take the global step, then the local step on the same
        triplets with freshly copied deconvolution weights. Returns the losses."""
        settings = self.settings
        x = (x - self.model.mean) / self.model.std
        features = self.model.backbone(x)
        triplets = mine_batch_hard(features, levels)
        if not len(triplets):  # a batch too small for any level to have a partner
            return {}
        loss = global_triplet_loss(features, triplets, settings.beta)
        parts = {"global": sgd_step(self.optimizers["global"], _FLOAT32, loss, iteration=iteration,
                                     remedy="saliency.global_lr")}
        if self.group is not None:
            self.group.copy_weights()
            histograms, inside = au_histograms(self.group.saliency_maps(x), landmarks, self.au_numbers,
                                               settings.patch, settings.bins)
            a, p, n = triplets.anchor, triplets.positive, triplets.negative
            sets = au_sets(aus[a], aus[p], aus[n], settings.alpha, usable=inside[a] & inside[p] & inside[n])
            loss = local_loss(histograms[a], histograms[p], histograms[n], triplets.offset, sets)
            parts["local"] = sgd_step(self.optimizers["local"], _FLOAT32, loss, iteration=iteration,
                                      remedy="saliency.local_lr")
        return parts


def pretrain(model: PainRegressor, config: TrainConfig, data: TrainingSet, *, device: torch.device,
             folder: Path, progress: str | None) -> None:
    """The saliency-supervised triplet pre-training of `model`'s backbone, resumable from folder/SNAPSHOT."""
    settings, solver = config.saliency, config.solver
    if len(np.unique(data.levels)) < 2:
        only = ", ".join(map(str, np.unique(data.levels))) or "none"
        raise PainmonError("saliency pre-training needs frames of at least two pain levels; this training "
                           f"set has level(s): {only}")
    model.to(device).train()
    backbone = model.backbone
    optimizers = {"global": sgd_optimizer([backbone], replace(solver, lr=settings.global_lr))}
    if settings.local:
        optimizers["local"] = sgd_optimizer([backbone], replace(solver, lr=settings.local_lr))
    alternation = _Alternation(model, settings, optimizers, DeconvGroup(backbone) if settings.local else None,
                               data.au_numbers)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SNAPSHOT
    state = TrainState({"model": model}, optimizers)
    start = state.load(path) if path.exists() else 0
    if start >= settings.iterations:
        return
    stream = batches(uniform_class_stream(data.levels, solver.seed), solver.batch_size, skip=start)
    levels = torch.from_numpy(np.asarray(data.levels, dtype=np.int64)).to(device)
    aus = torch.from_numpy(data.aus).to(device)
    landmarks = torch.from_numpy(data.landmarks).to(device)
    bar = tqdm(range(start, settings.iterations), initial=start, total=settings.iterations,
               desc=progress and f"{progress} saliency pre-training", disable=progress is None, leave=False,
               dynamic_ncols=True)
    for it in bar:
        torch.manual_seed(solver.seed * 1_000_003 + it)
        positions = next(stream)
        pick = torch.from_numpy(positions).to(device)
        x, flip = training_batch(data.images(data.rows[positions]), device, solver.mirror)
        marks = torch.where(flip[:, None, None], flip_landmarks(landmarks[pick], x.shape[3]), landmarks[pick])
        parts = alternation.step(x, marks, levels[pick], aus[pick], it)
        if it % 10 == 0 and parts:
            bar.set_postfix({k: f"{v:.3f}" for k, v in parts.items()})
        if (it + 1) % solver.snapshot_every == 0 and it + 1 < settings.iterations:
            state.save(path, it + 1)
    bar.close()
    state.save(path, settings.iterations)


class Saliency(Regression):
    """Method `saliency`: paper 002 (method 2; `local = false` is its method 1, global triplets only)."""

    def new_model(self, config: TrainConfig) -> PainRegressor:
        model = new_regressor(config)
        if config.saliency.local:
            check_backbone(model.backbone)
        return model

    def train(self, model: PainRegressor, config: TrainConfig, data: TrainingSet, *, device: torch.device,
              iterations: int, folder: Path, progress: str | None) -> None:
        pretrain(model, config, data, device=device, folder=folder, progress=progress)
        fit_regression(model, config, data, device=device, iterations=iterations, folder=folder,
                       progress=progress)
        (folder / SNAPSHOT).unlink(missing_ok=True)
