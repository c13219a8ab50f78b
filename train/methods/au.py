"""Method `au`: paper 003's AU detection ensemble on UNBC-McMaster; pain = PSPI of the detected AUs.

Per fold: `validation_subjects` of the training subjects (a seeded choice) are held out; each member
(engine.au.AUNet) is trained separately on the rest with SGD and the [solver] settings, random mirroring,
batches drawn from the ML-ROS'd rows and the masked weighted BCE with selective learning (train.multilabel).
Selective learning's target rate is each AU's positive share among the rows batches are drawn from (after
ML-ROS), so it evens out batch-to-batch swings instead of undoing the oversampling. Then the per-AU thresholds
are searched on the held-out subjects and the mean intensity of each AU when present (all training rows)
goes into the model, whose pain output is PSPI of probability × intensity.
Each member snapshots to `<folder>/member<i>_snapshot.safetensors`; a finished member's snapshot is kept
until the whole ensemble is done, so a killed fold resumes without retraining it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from engine.au import AUNet, AUPainModel
from engine.errors import PainmonError
from train.au_predictions import AUPredictions, au_metrics_json, merge_fold_aus, write_au_predictions
from train.config import TrainConfig
from train.loop import ImageReader, TrainState, sgd_optimizer, sgd_step, to_input, training_batch
from train.methods.base import HeldOut, ReportExtras, TrainingSet
from train.multilabel import (
    au_labels,
    masked_bce,
    ml_ros,
    positive_rates,
    search_thresholds,
    selective_learning_weights,
)
from train.sampling import batches, shuffled_stream


def validation_mask(subjects: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Rows of `count` training subjects (a seeded choice among the sorted names) held out for thresholds."""
    names = np.unique(subjects)
    if count == 0:
        return np.zeros(len(subjects), dtype=bool)
    if count >= len(names):
        raise PainmonError(f"au.validation_subjects = {count} leaves no subject to train on (the fold has "
                           f"{len(names)} training subjects): lower it, or 0 keeps thresholds at 0.5")
    chosen = np.random.default_rng(seed).choice(names, count, replace=False)
    return np.isin(subjects, chosen)


def mean_intensity(aus: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per AU, the mean FACS intensity of the frames where it is present (1 for an AU never present)."""
    present = labels == 1
    with np.errstate(invalid="ignore"):
        means = np.where(present, aus, 0.0).sum(0) / present.sum(0)
    return np.where(present.any(0), means, 1.0).astype(np.float32)


def fit_member(member: AUNet, config: TrainConfig, images: ImageReader, rows: np.ndarray, labels: np.ndarray,
               *, seed: int, device: torch.device, iterations: int, snapshot: Path,
               progress: str | None) -> None:
    """Train one member in place on `rows` with their (n, K) AU labels; resumable from `snapshot`.

    The snapshot is saved every `solver.snapshot_every` iterations and when training ends (so a finished
    member is not retrained); the caller removes it.
    """
    solver, settings = config.solver, config.au
    member.to(device).train()
    optimizer = sgd_optimizer([member], solver)  # the BCE has no parameters of its own
    cuda = device.type == "cuda"
    state = TrainState({"member": member}, {"sgd": optimizer}, torch.amp.GradScaler("cuda", enabled=cuda))
    start = state.load(snapshot) if snapshot.exists() else 0
    positions = ml_ros(labels, settings.ml_ros_budget, seed) if settings.ml_ros else np.arange(len(rows))
    rates = positive_rates(labels[positions])
    stream = batches(shuffled_stream(len(positions), seed), solver.batch_size, skip=start)
    bar = tqdm(range(start, iterations), initial=start, total=iterations, desc=progress,
               disable=progress is None, leave=False, dynamic_ncols=True)
    for it in bar:
        torch.manual_seed(seed * 1_000_003 + it)
        pick = positions[next(stream)]
        x, _ = training_batch(images(rows[pick]), device, solver.mirror)
        weights = (selective_learning_weights(labels[pick], rates, (seed, it)) if settings.selective_learning
                   else None)
        with torch.autocast(device.type, dtype=torch.float16, enabled=cuda):
            logits = member(x)
        loss = masked_bce(logits, torch.from_numpy(labels[pick]).to(device),
                          None if weights is None else torch.from_numpy(weights).to(device))
        value = sgd_step(optimizer, state.scaler, loss, iteration=it, remedy="solver.lr")
        if it % 10 == 0:
            bar.set_postfix(loss=f"{value:.3f}")
        if (it + 1) % solver.snapshot_every == 0 and it + 1 < iterations:
            state.save(snapshot, it + 1)
    bar.close()
    if start < iterations:
        state.save(snapshot, iterations)
    member.eval()


@torch.no_grad()
def predict_aus(model: AUPainModel, images: ImageReader, rows: np.ndarray, *, device: torch.device,
                batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Pain scores (n,) and AU probabilities (n, K) of the given rows, in order (eval mode, no mirroring)."""
    model.to(device).eval()
    scores = np.empty(len(rows), dtype=np.float32)
    probs = np.empty((len(rows), len(model.aus)), dtype=np.float32)
    for start in range(0, len(rows), batch_size):
        chunk = slice(start, start + batch_size)
        with torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
            s, p = model.forward_with_aus(to_input(images(rows[chunk]), device))
        scores[chunk], probs[chunk] = s.float().cpu().numpy(), p.float().cpu().numpy()
    return scores, probs


class AU:
    """Method `au`: paper 003 (multiple transfer learning and multi-label balanced training).

    Besides the pain scores, a fold writes its held-out AU outputs (folds/<subject>/aus.csv: probabilities,
    calls at the fold model's thresholds, labels); the run merges them into aus.csv and AU metrics.
    """

    def au_numbers(self, config: TrainConfig) -> tuple[int, ...]:
        return config.au.aus

    def new_model(self, config: TrainConfig) -> AUPainModel:
        torch.manual_seed(config.solver.seed)
        return AUPainModel(config.au.member_specs(), config.au.aus, config.model.input_size,
                           dropout=config.model.dropout)

    def train(self, model: AUPainModel, config: TrainConfig, data: TrainingSet, *, device: torch.device,
              iterations: int, folder: Path, progress: str | None) -> None:
        if not isinstance(model, AUPainModel) or tuple(data.au_numbers) != model.aus:
            raise ValueError("method au trains an AUPainModel on data with the model's AU columns")
        labels = au_labels(data.aus, data.au_numbers, config.au.presence)
        validation = validation_mask(data.subjects, config.au.validation_subjects, config.solver.seed)
        fit = ~validation
        snapshots = [folder / f"member{i}_snapshot.safetensors" for i in range(len(model.members))]
        for i, (member, snapshot) in enumerate(zip(model.nets(), snapshots, strict=True)):
            label = None if progress is None else f"{progress} member {i + 1}/{len(model.members)}"
            fit_member(member, config, data.images, data.rows[fit], labels[fit], seed=config.solver.seed + i,
                       device=device, iterations=iterations, snapshot=snapshot, progress=label)
        model.to(device)
        model.intensity.copy_(torch.from_numpy(mean_intensity(data.aus, labels)))
        if validation.any():
            probs = predict_aus(model, data.images, data.rows[validation], device=device)[1]
            model.thresholds.copy_(torch.from_numpy(search_thresholds(probs, labels[validation])))
        model.eval()
        for snapshot in snapshots:
            snapshot.unlink(missing_ok=True)

    def predict_held_out(self, model: AUPainModel, config: TrainConfig, held_out: HeldOut, folder: Path, *,
                         device: torch.device) -> np.ndarray:
        scores, probs = predict_aus(model, held_out.images, held_out.rows, device=device)
        frames = held_out.frames
        labels = au_labels(frames.aus, frames.au_numbers, config.au.presence)
        write_au_predictions(folder / "aus.csv", AUPredictions(
            frames.subject, frames.sequence, frames.frame, model.aus, probs.astype(np.float64),
            probs >= model.thresholds.cpu().numpy(), labels.astype(np.float64)))
        return scores

    def merge_held_out(self, out: Path, folds: list[str]) -> ReportExtras:
        merged = merge_fold_aus(out, folds)
        if merged is None:
            return ReportExtras()
        aus, thresholds = merged
        write_au_predictions(out / "aus.csv", aus)
        scores = aus.scores()
        return ReportExtras({"aus": au_metrics_json(scores, thresholds)}, scores,
                            np.mean(list(thresholds.values()), axis=0))
