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
Each fold is a train.fold unit run by a train.grid executor: one after another here, `--jobs N` local
processes, or Ray tasks (`--ray`, train.cluster); `--plan` prepares it for job arrays (train.arrays);
train.sweep has the commands. `--folds` picks held-out subjects (and `final`); each invocation rebuilds the
merged predictions and report from every finished fold. What differs between methods (the AU columns of
the frames, building and training a model, the held-out outputs) is behind train.methods.base.Method.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.errors import PainmonError
from engine.files import write_atomically
from train.align_cache import AlignSettings, build_cache
from train.config import TrainConfig
from train.evaluate import Predictions, evaluation_json, read_predictions, write_predictions
from train.fold import FINAL, FoldInputs, FoldUnit, done_marker
from train.grid import Executor, Failure, GridResult, InProcess, Job, run_grid
from train.methods import METHODS, Frames
from train.metrics import Evaluation
from train.report import write_report
from train.unbc import UnbcDataset, load_unbc

TWIN_MARKER = "twin.json"
"""File that train.synth writes at the root of a synthetic twin."""


@dataclass(frozen=True)
class LosoResult:
    """What a `run_loso` call left in the run folder."""

    out: Path
    trained: list[str]  # folds trained by this call
    finished: list[str]  # held-out subjects whose predictions exist (from this or earlier calls)
    evaluation: Evaluation | None  # over `finished`; None if no subject fold has finished
    failed: list[Failure]  # folds that failed on every attempt in this call


@dataclass(frozen=True)
class Run:
    """A prepared run: its recipe, its folder, its folds and the aligned data set every fold reads."""

    config: TrainConfig
    out: Path
    iterations: int
    subjects: list[str]
    wanted: list[str]  # the folds asked for, done or not
    inputs: FoldInputs
    inputs_key: str  # runs with the same key read the same inputs (same crops and AU columns)


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


def check_iterations(iterations: int | None) -> None:
    """Refuse an `--iterations` override that is not positive (before any data is read)."""
    if iterations is not None and iterations < 1:
        raise PainmonError(f"--iterations must be positive, got {iterations}")


def prepare_run(dataset: UnbcDataset, config: TrainConfig, out: Path, folds: list[str] | None, *,
                iterations: int | None, config_path: Path | None = None, workers: int | None = None,
                progress: bool = True) -> Run:
    """Check the request against the data set and the run folder, record the run and align every frame
    once (resuming an interrupted alignment). `iterations` has passed `check_iterations`."""
    iterations = config.solver.iterations if iterations is None else iterations
    method = METHODS[config.method]
    subjects = dataset.subjects()
    wanted = _wanted_folds(folds, subjects, dataset.root)
    input_size = method.new_model(config).input_size  # missing weights fail before any write
    _check_or_write_record(out, _record(dataset, config, iterations), config_path)
    cache = build_cache(dataset.frames, dataset.root, AlignSettings(input_size, config.align.min_face_size),
                        workers=workers, progress=progress)
    write_atomically(out / "no_face.csv", cache.no_face_csv.read_bytes())
    au_numbers = method.au_numbers(config)
    inputs = FoldInputs(Frames.of(dataset.frames, au_numbers), cache)
    return Run(config, out, iterations, subjects, wanted, inputs, f"{cache.folder} {au_numbers}")


def jobs_of(run: Run, name: str = "") -> list[Job]:
    """The run's wanted folds that are not done yet, labelled with their place in the run (and `name`)."""
    prefix = f"{name} " if name else ""
    return [Job(FoldUnit(run.config, run.iterations, fold), run.out, run.inputs_key,
                f"{prefix}fold {fold} ({number}/{len(run.wanted)})")
            for number, fold in enumerate(run.wanted, 1)
            if not done_marker(run.out / "folds" / fold, fold).exists()]


def run_grid_of(runs: list[Run], jobs: list[Job], executor: Executor, *, retries: int,
                progress: bool) -> GridResult:
    """Run jobs of prepared runs on `executor`, which gets each distinct input once."""
    inputs = {run.inputs_key: run.inputs for run in runs}
    return run_grid(jobs, inputs, executor, retries=retries, progress=progress)


def _merge(out: Path, subjects: list[str]) -> tuple[list[str], Predictions | None]:
    parts = [(s, out / "folds" / s / "predictions.csv") for s in subjects]
    loaded = [(s, read_predictions(p)) for s, p in parts if p.exists()]
    if not loaded:
        return [], None
    fields = ("subject", "sequence", "frame", "label", "prediction")
    merged = Predictions(**{f: np.concatenate([getattr(p, f) for _, p in loaded]) for f in fields})
    return [s for s, _ in loaded], merged


def merge_and_report(run: Run) -> tuple[list[str], Evaluation | None]:
    """Merge every finished fold (of this or earlier calls) into predictions.csv, metrics.json and the
    report; return the finished held-out subjects and their evaluation (None if there is none)."""
    finished, merged = _merge(run.out, run.subjects)
    if merged is None:
        return finished, None
    write_predictions(run.out / "predictions.csv", merged)
    evaluation = merged.evaluate()
    extras = METHODS[run.config.method].merge_held_out(run.out, finished)
    summary = {**evaluation_json(evaluation), "folds": finished, "config": run.config.name,
               "iterations": run.iterations, "no_face_frames": int((~run.inputs.aligned.found).sum()),
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
    executor: Executor | None = None,
    retries: int = 1,
) -> LosoResult:
    """Run (or resume) the requested folds on `executor` (default: one after another in this process on
    `device`), then merge predictions and write the report.

    `folds` are held-out subjects or `final`; None means every subject, then `final`. A fold that fails
    `retries` + 1 times is in the result's `failed`; the others still run and are merged.
    """
    check_iterations(iterations)
    run = prepare_run(load_unbc(data, progress=progress), config, out, folds, iterations=iterations,
                      config_path=config_path, workers=workers, progress=progress)
    grid = run_grid_of([run], jobs_of(run), executor or InProcess(device, progress=progress), retries=retries,
                       progress=progress)
    finished, evaluation = merge_and_report(run)
    return LosoResult(out, [job.unit.fold for job in grid.done], finished, evaluation, grid.failed)
