"""One LOSO fold as a pure unit of work: (config with its seed, iterations, fold) and the aligned data in,
the fold's folder out — its checkpoint, its held-out predictions and the method's own held-out outputs.

A fold reads nothing but its inputs and writes nothing but its folder, so any executor can run it (this
process, a local worker process, a Ray task on another machine): the same inputs give the same bytes on the
same device and thread count. The one time stamp a checkpoint has, its card's `created`, is FOLD_CREATED
for a fold; `painmon train export` stamps the deployed model. An executor without the run folder runs a fold
in a scratch folder and sends `fold_files` back; `write_fold_files` puts them into the run folder with the
file that marks the fold done last.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from engine.checkpoint import PainModel, card_for, save_checkpoint
from engine.files import write_atomically
from train.config import TrainConfig
from train.evaluate import Predictions, write_predictions
from train.loop import training_rows
from train.methods import METHODS, Frames, HeldOut, TrainingSet

FINAL = "final"
"""Fold name of the fit on all subjects (nothing held out): the model that gets deployed."""

FOLD_CREATED = "not stamped: a LOSO fold (painmon train export stamps the deployed model)"
"""`created` of a fold checkpoint's card: a fixed text, so a rerun of the fold writes the same bytes."""


class Aligned(Protocol):
    """The aligned faces a fold reads (train.align_cache.AlignedFrames on disk, PackedFrames in memory)."""

    @property
    def found(self) -> np.ndarray:
        """bool (n,): a face was found in the frame."""
        ...

    @property
    def landmarks(self) -> np.ndarray:
        """float32 (n, 5, 2): the five landmarks in frame pixels (NaN without a face)."""
        ...

    @property
    def crop_size(self) -> tuple[int, int]:
        """(h, w) of the crops."""
        ...

    def crops(self, rows: np.ndarray) -> np.ndarray: ...

    def crop_landmarks(self, rows: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class FoldUnit:
    """What decides a fold's artifacts besides the data: the config (its solver.seed is the run's seed),
    the final stage's iterations and the fold (a held-out subject or FINAL)."""

    config: TrainConfig
    iterations: int
    fold: str


@dataclass(frozen=True)
class FoldInputs:
    """The data every fold of a run reads: the frames' arrays and their aligned faces, row for row."""

    frames: Frames
    aligned: Aligned


def done_marker(folder: Path, fold: str) -> Path:
    """The file whose presence means the fold is finished (written last)."""
    return folder / ("model.safetensors" if fold == FINAL else "predictions.csv")


def training_set(fold: str, config: TrainConfig, inputs: FoldInputs) -> TrainingSet:
    """The frames with a face of every subject but `fold` (all of them for FINAL), after `[sampling]`."""
    frames, aligned = inputs.frames, inputs.aligned
    usable = aligned.found & (frames.subject != fold)
    rows = training_rows(np.flatnonzero(usable), frames.level[usable],
                         np.char.add(np.char.add(frames.subject[usable], "/"), frames.sequence[usable]),
                         config.sampling)
    return TrainingSet(aligned.crops, rows, frames.level[rows], frames.subject[rows], frames.au_numbers,
                       frames.aus[rows], aligned.crop_landmarks(rows))


def _train(unit: FoldUnit, inputs: FoldInputs, folder: Path, *, device: torch.device, label: str,
           progress: bool) -> PainModel:
    config, method = unit.config, METHODS[unit.config.method]
    data = training_set(unit.fold, config, inputs)
    model = method.new_model(config)
    snapshots = sorted(folder.glob("*snapshot*.safetensors"))
    if snapshots:
        print(f"{label}: resuming from {', '.join(map(str, snapshots))}")
    method.train(model, config, data, device=device, iterations=unit.iterations, folder=folder,
                 progress=label if progress else None)
    held_out = "none" if unit.fold == FINAL else unit.fold
    trained_on = f"{len(data.rows)} frames of {len(set(data.subjects))} subjects (held out: {held_out})"
    card = card_for(model, name=f"{config.name} / {unit.fold}", version="fold",
                               trained_on=trained_on, created=FOLD_CREATED,
                               config={**config.to_dict(), "iterations": unit.iterations})
    save_checkpoint(folder / "model.safetensors", model, card)
    return model


def run_fold(unit: FoldUnit, inputs: FoldInputs, folder: Path, *, device: torch.device, label: str,
             progress: bool) -> bool:
    """Train the fold into `folder` unless it is done there (resuming from snapshots in it), then predict
    its held-out subject; return whether it trained."""
    if done_marker(folder, unit.fold).exists():
        return False
    frames = inputs.frames
    rows = np.flatnonzero(inputs.aligned.found & (frames.subject == unit.fold))
    if unit.fold != FINAL and not len(rows):
        print(f"{label}: skipped, no frame of {unit.fold} has a detectable face (see the run's no_face.csv)")
        return False
    folder.mkdir(parents=True, exist_ok=True)
    model = _train(unit, inputs, folder, device=device, label=label, progress=progress)
    if unit.fold == FINAL:
        print(f"{label}: all-subjects model written to {folder / 'model.safetensors'}")
        return True
    held_out = HeldOut(inputs.aligned.crops, rows, frames.take(rows))
    scores = METHODS[unit.config.method].predict_held_out(model, unit.config, held_out, folder, device=device)
    taken = held_out.frames
    predictions = Predictions(taken.subject, taken.sequence, taken.frame, taken.level.astype(np.float64),
                              scores.astype(np.float64))
    write_predictions(done_marker(folder, unit.fold), predictions)
    m = predictions.evaluate().per_subject_mean
    print(f"{label}: {len(rows)} frames, MAE {m.mae:.3f}, PCC {m.pcc:.3f}, wMAE {m.wmae:.3f}")
    return True


def fold_files(folder: Path) -> dict[str, bytes]:
    """The files a finished fold left in `folder`, by name (a fold folder has no subfolders)."""
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def write_fold_files(folder: Path, fold: str, files: dict[str, bytes]) -> None:
    """Write a fold's files (from `fold_files`) into its folder of the run, the done marker last."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = done_marker(folder, fold).name
    for name in sorted(files, key=lambda name: name == marker):
        write_atomically(folder / name, files[name])
