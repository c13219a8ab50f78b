"""`painmon train loso`: leave-one-subject-out training and per-frame predictions, resumable.

A run folder holds:
  run.json, config.toml        what the run is (data, config, iterations); a resumed run must match it
  folds/<subject>/             model.safetensors (the fold's checkpoint) and predictions.csv (its held-out
                               subject); a fold is done when predictions.csv exists; a method may add held-out
                               outputs of its own: an AU model's fold also has aus.csv (held-out AU
                               probabilities, calls and labels)
  folds/final/model.safetensors  the deployable fit on all subjects (`painmon train export` packages it)
  predictions.csv              all finished folds: subject, sequence, frame, label, prediction
  aus.csv                      an AU model's finished folds: AU probabilities, calls and labels
  metrics.json, report/        the papers' metrics, table and per-subject plots over the finished folds (with
                               an AU model, also accuracy and F1 per AU and each fold's thresholds)
  no_face.csv                  frames without a detectable face: not trained on, not scored
A fold interrupted mid-training resumes from its snapshots (folds/<subject>/*snapshot*.safetensors).
`--folds` picks held-out subjects (and `final`), so folds can be spread over machines or GPUs that share the
run folder (or whose folds/<subject>/ folders are copied into one); each invocation rebuilds the merged
predictions and report from every finished fold. What differs between methods (the AU columns of the frames,
building and training a model, the held-out outputs) is behind train.methods.base.Method.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.checkpoint import ModelCard, PainModel, save_checkpoint
from engine.errors import PainmonError
from engine.files import write_atomically
from train.align_cache import AlignedFrames, AlignSettings, build_cache
from train.config import TrainConfig, load_config
from train.evaluate import Predictions, evaluation_json, read_predictions, write_predictions
from train.loop import resolve_device, training_rows
from train.methods import METHODS, Frames, HeldOut, Method, TrainingSet
from train.metrics import Evaluation
from train.report import write_report
from train.unbc import UnbcDataset, load_unbc

TWIN_MARKER = "twin.json"
"""File that train.synth writes at the root of a synthetic twin."""

FINAL = "final"
"""Fold name of the fit on all subjects (nothing held out): the model that gets deployed."""


@dataclass(frozen=True)
class LosoResult:
    """What a `run_loso` call left in the run folder."""

    out: Path
    trained: list[str]  # folds trained by this call
    finished: list[str]  # held-out subjects whose predictions exist (from this or earlier calls)
    evaluation: Evaluation | None  # over `finished`; None if no subject fold has finished


@dataclass(frozen=True)
class _Run:
    """What every step of a `run_loso` call shares: the recipe, the run folder and the aligned data set."""

    config: TrainConfig
    method: Method
    out: Path
    iterations: int
    subjects: list[str]
    frames: Frames
    cache: AlignedFrames


def read_json(path: Path, what: str) -> Any:
    """A JSON file painmon wrote, or a one-line PainmonError naming it when it is unreadable or damaged."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise PainmonError(f"{path} is not a readable {what} ({error}); remove it or replace it") from None


def _twin(marker: Path) -> dict[str, Any]:
    """What train.synth wrote about a twin; PainmonError naming the file unless it has what a run records."""
    twin = read_json(marker, "synthetic twin description")
    if not (isinstance(twin, dict) and all(isinstance(twin.get(key), int) and not isinstance(twin[key], bool)
                                           for key in ("subjects", "frames_per_subject", "seed"))):
        raise PainmonError(f"{marker} is not a synthetic twin description (it needs whole numbers subjects, "
                           "frames_per_subject and seed, as painmon train synth writes them)")
    return twin


def _record(dataset: UnbcDataset, config: TrainConfig, iterations: int) -> dict:
    marker = dataset.root / TWIN_MARKER
    twin = _twin(marker) if marker.exists() else None
    return {"data": str(dataset.root.resolve()), "synthetic": twin is not None, "twin": twin,
            "config": config.to_dict(), "iterations": iterations, "subjects": dataset.subjects(),
            "frames": len(dataset.frames)}


def _check_or_write_record(out: Path, record: dict, config_path: Path | None) -> None:
    path = out / "run.json"
    if path.exists():
        old = read_json(path, "run record")
        new = json.loads(json.dumps(record))
        for key in ("data", "config", "iterations"):
            if not isinstance(old, dict) or old.get(key) != new[key]:
                raise PainmonError(f"{out} was started with another {key} ({path}); resume it with the same "
                                   "--data, --config and --iterations, or choose a new --out")
        return
    out.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(record, indent=2))
    if config_path is not None:
        write_atomically(out / "config.toml", config_path.read_bytes())


def _wanted_folds(folds: list[str] | None, subjects: list[str], data: Path) -> list[str]:
    """The requested folds (None: every subject, then FINAL); an unknown one is an error."""
    wanted = folds or [*subjects, FINAL]
    unknown = [f for f in wanted if f not in subjects and f != FINAL]
    if unknown:
        raise PainmonError(f"unknown fold(s) {', '.join(unknown)}: choose held-out subjects of {data} "
                           f"({', '.join(subjects)}) or {FINAL} (all subjects, for export)")
    return wanted


def _prepare(data: Path, config: TrainConfig, out: Path, folds: list[str] | None, *, iterations: int | None,
             config_path: Path | None, workers: int | None, progress: bool) -> tuple[_Run, list[str]]:
    """Check the request against the data set and the run folder, record the run, align every frame once;
    return the shared state and the folds to run."""
    iterations = config.solver.iterations if iterations is None else iterations
    if iterations < 1:
        raise PainmonError(f"--iterations must be positive, got {iterations}")
    dataset = load_unbc(data, progress=progress)
    method = METHODS[config.method]
    frames = Frames.of(dataset.frames, method.au_numbers(config))
    subjects = dataset.subjects()
    wanted = _wanted_folds(folds, subjects, data)
    input_size = method.new_model(config).input_size  # missing weights fail before any write
    _check_or_write_record(out, _record(dataset, config, iterations), config_path)
    cache = build_cache(dataset.frames, dataset.root, AlignSettings(input_size, config.align.min_face_size),
                        workers=workers, progress=progress)
    write_atomically(out / "no_face.csv", cache.no_face_csv.read_bytes())
    return _Run(config, method, out, iterations, subjects, frames, cache), wanted


def _training_set(fold: str, config: TrainConfig, cache: AlignedFrames, frames: Frames) -> TrainingSet:
    usable = cache.found & (frames.subject != fold)
    rows = training_rows(np.flatnonzero(usable), frames.level[usable],
                         np.char.add(np.char.add(frames.subject[usable], "/"), frames.sequence[usable]),
                         config.sampling)
    return TrainingSet(cache.crops, rows, frames.level[rows], frames.subject[rows], frames.au_numbers,
                       frames.aus[rows], cache.crop_landmarks(rows))


def _train_fold(run: _Run, fold: str, folder: Path, *, device: torch.device, label: str,
                progress: bool) -> PainModel:
    config, method = run.config, run.method
    data = _training_set(fold, config, run.cache, run.frames)
    model = method.new_model(config)
    snapshots = sorted(folder.glob("*snapshot*.safetensors"))
    if snapshots:
        print(f"{label}: resuming from {', '.join(map(str, snapshots))}")
    method.train(model, config, data, device=device, iterations=run.iterations, folder=folder,
                 progress=label if progress else None)
    held_out = "none" if fold == FINAL else fold
    trained_on = f"{len(data.rows)} frames of {len(set(data.subjects))} subjects (held out: {held_out})"
    card = ModelCard.for_model(model, name=f"{config.name} / {fold}", version="fold", trained_on=trained_on,
                               config={**config.to_dict(), "iterations": run.iterations})
    save_checkpoint(folder / "model.safetensors", model, card)
    return model


def _run_fold(run: _Run, fold: str, label: str, *, device: torch.device, progress: bool) -> bool:
    """Train one fold unless it is done, then predict its held-out subject; return whether it trained."""
    folder = run.out / "folds" / fold
    done = folder / ("model.safetensors" if fold == FINAL else "predictions.csv")
    if done.exists():
        return False
    rows = np.flatnonzero(run.cache.found & (run.frames.subject == fold))
    if fold != FINAL and not len(rows):
        print(f"{label}: skipped, no frame of {fold} has a detectable face (see {run.out / 'no_face.csv'})")
        return False
    folder.mkdir(parents=True, exist_ok=True)
    model = _train_fold(run, fold, folder, device=device, label=label, progress=progress)
    if fold == FINAL:
        print(f"{label}: all-subjects model written to {folder / 'model.safetensors'}")
        return True
    held_out = HeldOut(run.cache.crops, rows, run.frames.take(rows))
    scores = run.method.predict_held_out(model, run.config, held_out, folder, device=device)
    frames = held_out.frames
    predictions = Predictions(frames.subject, frames.sequence, frames.frame, frames.level.astype(np.float64),
                              scores.astype(np.float64))
    write_predictions(done, predictions)
    m = predictions.evaluate().per_subject_mean
    print(f"{label}: {len(rows)} frames, MAE {m.mae:.3f}, PCC {m.pcc:.3f}, wMAE {m.wmae:.3f}")
    return True


def _merge(out: Path, subjects: list[str]) -> tuple[list[str], Predictions | None]:
    parts = [(s, out / "folds" / s / "predictions.csv") for s in subjects]
    loaded = [(s, read_predictions(p)) for s, p in parts if p.exists()]
    if not loaded:
        return [], None
    fields = ("subject", "sequence", "frame", "label", "prediction")
    merged = Predictions(**{f: np.concatenate([getattr(p, f) for _, p in loaded]) for f in fields})
    return [s for s, _ in loaded], merged


def _merge_and_report(run: _Run) -> tuple[list[str], Evaluation | None]:
    """Merge every finished fold (of this or earlier calls) into predictions.csv, metrics.json and the
    report; return the finished held-out subjects and their evaluation (None if there is none)."""
    finished, merged = _merge(run.out, run.subjects)
    if merged is None:
        return finished, None
    write_predictions(run.out / "predictions.csv", merged)
    evaluation = merged.evaluate()
    extras = run.method.merge_held_out(run.out, finished)
    summary = {**evaluation_json(evaluation), "folds": finished, "config": run.config.name,
               "iterations": run.iterations, "no_face_frames": int((~run.cache.found).sum()),
               **extras.metrics}
    write_atomically(run.out / "metrics.json", json.dumps(summary, indent=2, allow_nan=False))
    write_report(run.out / "report", merged, evaluation, source=f"{run.config.name} ({len(finished)} folds)",
                 aus=extras.aus, thresholds=extras.thresholds)
    return finished, evaluation


def run_loso(
    data: Path,
    config: TrainConfig,
    out: Path,
    *,
    folds: list[str] | None = None,
    device: torch.device,
    iterations: int | None = None,
    config_path: Path | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> LosoResult:
    """Run (or resume) the requested folds, then merge predictions and write the report.

    `folds` are held-out subjects or `final`; None means every subject, then `final`.
    """
    run, wanted = _prepare(data, config, out, folds, iterations=iterations, config_path=config_path,
                           workers=workers, progress=progress)
    trained = []
    for number, fold in enumerate(wanted, 1):
        if _run_fold(run, fold, f"fold {fold} ({number}/{len(wanted)})", device=device, progress=progress):
            trained.append(fold)
    finished, evaluation = _merge_and_report(run)
    return LosoResult(out, trained, finished, evaluation)


def run(args: argparse.Namespace) -> int:
    """`painmon train loso --data DIR --config CFG --out RUN [--folds ...] [--device D] [--iterations N]`."""
    config = load_config(args.config)
    result = run_loso(Path(args.data), config, Path(args.out), folds=args.folds or None,
                      device=resolve_device(args.device), iterations=args.iterations,
                      config_path=Path(args.config))
    if result.evaluation is None:
        print(f"no held-out subject finished yet in {result.out}")
        return 0
    m = result.evaluation.per_subject_mean
    print(f"{len(result.finished)} folds finished: per-subject MAE {m.mae:.3f}, MSE {m.mse:.3f}, "
          f"PCC {m.pcc:.3f}, wMAE {m.wmae:.3f}, wMSE {m.wmse:.3f}")
    print(f"predictions: {result.out / 'predictions.csv'}; report: {result.out / 'report' / 'report.md'}")
    return 0
