"""`painmon train loso`: leave-one-subject-out training and per-frame predictions, resumable.

A run folder holds:
  run.json, config.toml        what the run is (data, config, iterations); a resumed run must match it
  folds/<subject>/             model.safetensors (the fold's checkpoint) and predictions.csv (its held-out
                               subject); a fold is done when predictions.csv exists; an AU model's fold also
                               has aus.csv (held-out AU probabilities, calls and labels)
  folds/final/model.safetensors  the deployable fit on all subjects (`painmon train export` packages it)
  predictions.csv              all finished folds: subject, sequence, frame, label, prediction
  aus.csv                      an AU model's finished folds: AU probabilities, calls and labels
  metrics.json, report/        the papers' metrics, table and per-subject plots over the finished folds (with
                               an AU model, also accuracy and F1 per AU and each fold's thresholds)
  no_face.csv                  frames without a detectable face: not trained on, not scored
A fold interrupted mid-training resumes from its snapshots (folds/<subject>/*snapshot*.safetensors).
`--folds` picks held-out subjects (and `final`), so folds can be spread over machines or GPUs that share the
run folder (or whose folds/<subject>/ folders are copied into one); each invocation rebuilds the merged
predictions and report from every finished fold.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.au import DEFAULT_AUS, AUPainModel
from engine.checkpoint import ModelCard, PainModel, save_checkpoint
from engine.errors import PainmonError
from engine.files import write_atomically
from train.align_cache import AlignedFrames, AlignSettings, build_cache
from train.au_predictions import AUPredictions, au_metrics_json, merge_fold_aus, write_au_predictions
from train.config import TrainConfig, load_config
from train.evaluate import Predictions, evaluation_json, read_predictions, write_predictions
from train.loop import predict, resolve_device, training_rows
from train.methods import METHODS, TrainingSet
from train.methods.au import predict_aus
from train.metrics import Evaluation
from train.multilabel import au_labels
from train.report import write_report
from train.unbc import FrameRecord, UnbcDataset, load_unbc

TWIN_MARKER = "twin.json"
"""File that train.synth writes at the root of a synthetic twin."""

FINAL = "final"
"""Fold name of the fit on all subjects (nothing held out): the model that gets deployed."""


@dataclass(frozen=True)
class Frames:
    """Per-frame arrays of a data set, in its order."""

    subject: np.ndarray  # str
    sequence: np.ndarray  # str
    frame: np.ndarray  # int64
    level: np.ndarray  # int64, 0..5
    au_numbers: tuple[int, ...]
    aus: np.ndarray  # float32 (n, len(au_numbers)) FACS intensities; an AU not coded in a frame is 0

    @classmethod
    def of(cls, records: list[FrameRecord], au_numbers: tuple[int, ...]) -> Frames:
        return cls(np.array([r.subject for r in records], dtype=str),
                   np.array([r.sequence for r in records], dtype=str),
                   np.array([r.frame for r in records], dtype=np.int64),
                   np.array([r.level for r in records], dtype=np.int64),
                   au_numbers,
                   np.array([[r.aus.get(a, 0.0) for a in au_numbers] for r in records],
                            dtype=np.float32).reshape(len(records), len(au_numbers)))


@dataclass(frozen=True)
class LosoResult:
    """What a `run_loso` call left in the run folder."""

    out: Path
    trained: list[str]  # folds trained by this call
    finished: list[str]  # held-out subjects whose predictions exist (from this or earlier calls)
    evaluation: Evaluation | None  # over `finished`; None if no subject fold has finished


def _record(dataset: UnbcDataset, config: TrainConfig, iterations: int) -> dict:
    marker = dataset.root / TWIN_MARKER
    twin = json.loads(marker.read_text()) if marker.exists() else None
    return {"data": str(dataset.root.resolve()), "synthetic": twin is not None, "twin": twin,
            "config": config.to_dict(), "iterations": iterations, "subjects": dataset.subjects(),
            "frames": len(dataset.frames)}


def _check_or_write_record(out: Path, record: dict, config_path: Path | None) -> None:
    path = out / "run.json"
    if path.exists():
        old = json.loads(path.read_text())
        new = json.loads(json.dumps(record))
        for key in ("data", "config", "iterations"):
            if old.get(key) != new[key]:
                raise PainmonError(f"{out} was started with another {key} ({path}); resume it with the same "
                                   "--data, --config and --iterations, or choose a new --out")
        return
    out.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(record, indent=2))
    if config_path is not None:
        write_atomically(out / "config.toml", config_path.read_bytes())


def _training_set(fold: str, config: TrainConfig, cache: AlignedFrames, frames: Frames) -> TrainingSet:
    usable = cache.found & (frames.subject != fold)
    rows = training_rows(np.flatnonzero(usable), frames.level[usable],
                         np.char.add(np.char.add(frames.subject[usable], "/"), frames.sequence[usable]),
                         config.sampling)
    return TrainingSet(cache.crops, rows, frames.level[rows], frames.subject[rows], frames.au_numbers,
                       frames.aus[rows], cache.crop_landmarks(rows))


def _train_fold(fold: str, config: TrainConfig, cache: AlignedFrames, frames: Frames, folder: Path, *,
                device: torch.device, iterations: int, label: str, progress: bool) -> PainModel:
    data = _training_set(fold, config, cache, frames)
    method = METHODS[config.method]
    model = method.new_model(config)
    snapshots = sorted(folder.glob("*snapshot*.safetensors"))
    if snapshots:
        print(f"{label}: resuming from {', '.join(map(str, snapshots))}")
    method.train(model, config, data, device=device, iterations=iterations, folder=folder,
                 progress=label if progress else None)
    held_out = "none" if fold == FINAL else fold
    trained_on = f"{len(data.rows)} frames of {len(set(data.subjects))} subjects (held out: {held_out})"
    card = ModelCard.for_model(model, name=f"{config.name} / {fold}", version="fold", trained_on=trained_on,
                               config={**config.to_dict(), "iterations": iterations})
    save_checkpoint(folder / "model.safetensors", model, card)
    return model


def _merge(out: Path, subjects: list[str]) -> tuple[list[str], Predictions | None]:
    parts = [(s, out / "folds" / s / "predictions.csv") for s in subjects]
    loaded = [(s, read_predictions(p)) for s, p in parts if p.exists()]
    if not loaded:
        return [], None
    fields = ("subject", "sequence", "frame", "label", "prediction")
    merged = Predictions(**{f: np.concatenate([getattr(p, f) for _, p in loaded]) for f in fields})
    return [s for s, _ in loaded], merged


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
    dataset = load_unbc(data, progress=progress)
    frames = Frames.of(dataset.frames, config.au.aus if config.method == "au" else DEFAULT_AUS)
    subjects = dataset.subjects()
    iterations = iterations or config.solver.iterations
    if iterations < 1:
        raise PainmonError(f"--iterations must be positive, got {iterations}")
    wanted = folds or [*subjects, FINAL]
    unknown = [f for f in wanted if f not in subjects and f != FINAL]
    if unknown:
        raise PainmonError(f"unknown fold(s) {', '.join(unknown)}: choose held-out subjects of {data} "
                           f"({', '.join(subjects)}) or {FINAL} (all subjects, for export)")
    input_size = METHODS[config.method].new_model(config).input_size  # missing weights fail before any write
    _check_or_write_record(out, _record(dataset, config, iterations), config_path)
    cache = build_cache(dataset.frames, dataset.root, AlignSettings(input_size, config.align.min_face_size),
                        workers=workers, progress=progress)
    write_atomically(out / "no_face.csv", cache.no_face_csv.read_bytes())
    trained = []
    for number, fold in enumerate(wanted, 1):
        folder = out / "folds" / fold
        done = folder / ("model.safetensors" if fold == FINAL else "predictions.csv")
        if done.exists():
            continue
        label = f"fold {fold} ({number}/{len(wanted)})"
        held_out = np.flatnonzero(cache.found & (frames.subject == fold))
        if fold != FINAL and not len(held_out):
            print(f"{label}: skipped, no frame of {fold} has a detectable face (see {out / 'no_face.csv'})")
            continue
        folder.mkdir(parents=True, exist_ok=True)
        model = _train_fold(fold, config, cache, frames, folder, device=device, iterations=iterations,
                            label=label, progress=progress)
        trained.append(fold)
        if fold == FINAL:
            print(f"{label}: all-subjects model written to {folder / 'model.safetensors'}")
            continue
        if isinstance(model, AUPainModel):
            scores, probs = predict_aus(model, cache.crops, held_out, device=device)
            present = probs >= model.thresholds.cpu().numpy()
            labels = au_labels(frames.aus[held_out], frames.au_numbers, config.au.presence)
            write_au_predictions(folder / "aus.csv", AUPredictions(
                frames.subject[held_out], frames.sequence[held_out], frames.frame[held_out], model.aus,
                probs.astype(np.float64), present, labels.astype(np.float64)))
        else:
            scores = predict(model, cache.crops, held_out, device=device)
        fold_predictions = Predictions(frames.subject[held_out], frames.sequence[held_out],
                                       frames.frame[held_out], frames.level[held_out].astype(np.float64),
                                       scores.astype(np.float64))
        write_predictions(done, fold_predictions)
        m = fold_predictions.evaluate().per_subject_mean
        print(f"{label}: {len(held_out)} frames, MAE {m.mae:.3f}, PCC {m.pcc:.3f}, wMAE {m.wmae:.3f}")
    finished, merged = _merge(out, subjects)
    evaluation = None
    if merged is not None:
        write_predictions(out / "predictions.csv", merged)
        evaluation = merged.evaluate()
        summary = {**evaluation_json(evaluation), "folds": finished, "config": config.name,
                   "iterations": iterations, "no_face_frames": int((~cache.found).sum())}
        aus = merge_fold_aus(out, finished)
        au_scores, mean_thresholds = None, None
        if aus is not None:
            merged_aus, thresholds = aus
            write_au_predictions(out / "aus.csv", merged_aus)
            au_scores, mean_thresholds = merged_aus.scores(), np.mean(list(thresholds.values()), axis=0)
            summary["aus"] = au_metrics_json(au_scores, thresholds)
        write_atomically(out / "metrics.json", json.dumps(summary, indent=2, allow_nan=False))
        write_report(out / "report", merged, evaluation, source=f"{config.name} ({len(finished)} folds)",
                     aus=au_scores, thresholds=mean_thresholds)
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
