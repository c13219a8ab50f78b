"""`painmon train sweep` (and the `loso` command): a grid of configs × solver seeds × LOSO folds, one run
folder per (config, seed), then each run's evaluation and one comparison table across runs.

A sweep folder holds `<config>/seed<s>/` (each a `painmon train loso` run folder, resumable on its own) and
`comparison.md`: per config the per-subject means averaged over its seeds, the wMAE range over seeds, the
gain over predicting all zeros and the minutes per seed trained in this call, and the winners. Every fold of
every run is one job of one train.grid executor, so folds of different runs share the workers.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import PainmonError
from engine.files import write_atomically
from train.config import TrainConfig, load_config
from train.evaluate import read_predictions
from train.grid import Executor, Failure, GridResult, InProcess, Processes
from train.loop import resolve_device
from train.loso import Run, check_iterations, jobs_of, merge_and_report, prepare_run, run_grid_of, run_loso
from train.metrics import METRIC_NAMES, Evaluation, evaluate
from train.report import HEADERS
from train.unbc import load_unbc

COMPARISON = "comparison.md"


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: a config (with its solver seed), its run folder and its row in the comparison."""

    name: str
    config: TrainConfig
    out: Path
    config_path: Path | None = None


def with_seed(config: TrainConfig, seed: int) -> TrainConfig:
    """`config` with solver seed `seed` (initial weights, batches, mirroring)."""
    return dataclasses.replace(config, solver=dataclasses.replace(config.solver, seed=seed))


def grid_specs(configs: Mapping[str, tuple[TrainConfig, Path | None]], seeds: list[int],
               out: Path) -> list[RunSpec]:
    """A run per config (by key: its folder name) and seed, in `out/<key>/seed<s>/`."""
    return [RunSpec(config.name, with_seed(config, seed), out / key / f"seed{seed}", path)
            for key, (config, path) in configs.items() for seed in seeds]


@dataclass
class SweepResult:
    """The runs a sweep prepared, the ones it could not (with why), what its grid did and the comparison."""

    runs: dict[RunSpec, Run]
    refused: dict[RunSpec, str]
    grid: GridResult
    comparison: str


def prepare_sweep(data: Path, specs: list[RunSpec], *, folds: list[str] | None, iterations: int | None,
                  workers: int | None = None, progress: bool = True) -> tuple[dict[RunSpec, Run],
                                                                              dict[RunSpec, str]]:
    """Read the data set once and prepare every run; a run whose request is refused (another config in its
    folder, ...) is left out with its error, the others go on."""
    check_iterations(iterations)
    dataset = load_unbc(data, progress=progress)
    runs, refused = {}, {}
    for spec in specs:
        try:
            runs[spec] = prepare_run(dataset, spec.config, spec.out, folds, iterations=iterations,
                                     config_path=spec.config_path, workers=workers, progress=progress)
        except PainmonError as error:
            refused[spec] = str(error)
    return runs, refused


def run_sweep(data: Path, specs: list[RunSpec], out: Path, *, executor: Executor,
              folds: list[str] | None = None, iterations: int | None = None, retries: int = 1,
              workers: int | None = None, progress: bool = True) -> SweepResult:
    """Run (or resume) every fold of every run on `executor`, then evaluate each run and compare them."""
    runs, refused = prepare_sweep(data, specs, folds=folds, iterations=iterations, workers=workers,
                                  progress=progress)
    jobs = [job for spec, run in runs.items() for job in jobs_of(run, _label(spec, out))]
    grid = run_grid_of(list(runs.values()), jobs, executor, retries=retries, progress=progress)
    return SweepResult(runs, refused, grid, finish_sweep(runs, out, grid))


def _label(spec: RunSpec, out: Path) -> str:
    return str(spec.out.relative_to(out)) if spec.out.is_relative_to(out) else str(spec.out)


def finish_sweep(runs: dict[RunSpec, Run], out: Path, grid: GridResult | None = None) -> str:
    """Merge and evaluate every run, write `out/comparison.md` and return it ("" when no run has a finished
    held-out subject). `grid` gives the minutes trained in this call."""
    results: dict[str, list[Evaluation]] = {}
    minutes: dict[str, list[float]] = {}
    frames = None
    for spec, run in runs.items():
        _, evaluation = merge_and_report(run)
        if evaluation is None:
            continue
        results.setdefault(spec.name, []).append(evaluation)
        frames = read_predictions(run.out / "predictions.csv")
        seconds = [s for job, (s, _) in (grid.done.items() if grid else ()) if job.run == run.out]
        if seconds:
            minutes.setdefault(spec.name, []).append(sum(seconds) / 60)
    if frames is None:
        return ""
    zeros = evaluate(frames.subject, frames.label, np.zeros_like(frames.label))
    text = (table(results, zeros, {name: float(np.mean(m)) for name, m in minutes.items()}) + "\n\n"
            + winners(results) + "\n")
    write_atomically(out / COMPARISON, text)
    return text


def _cell(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.3f}"


def seed_mean(evaluations: list[Evaluation]) -> dict[str, float]:
    """Each metric's per-subject mean (the papers' figure), averaged over the seeds that define it."""
    values = np.array([[e.per_subject_mean.as_dict()[k] for k in METRIC_NAMES] for e in evaluations])
    defined = ~np.isnan(values)
    sums = np.where(defined, values, 0.0).sum(0)
    with np.errstate(invalid="ignore"):
        return dict(zip(METRIC_NAMES, np.where(defined.any(0), sums / defined.sum(0), np.nan), strict=True))


def wmae_range(evaluations: list[Evaluation]) -> tuple[float, float]:
    """The lowest and highest per-subject-mean wMAE over the seeds."""
    values = [e.per_subject_mean.wmae for e in evaluations]
    return min(values), max(values)


def table(results: dict[str, list[Evaluation]], zeros: Evaluation, minutes: dict[str, float]) -> str:
    """One Markdown row per config: the per-subject means (averaged over seeds), wMAE gain over all zeros,
    the wMAE range over seeds where there are several, and minutes per seed trained in this call."""
    seeds = max(map(len, results.values()))
    spread = ["wMAE over seeds"] if seeds > 1 else []
    lines = ["| method | " + " | ".join([*HEADERS, "all-zeros wMAE ÷ wMAE", *spread, "minutes"]) + " |",
             "|---" * (len(HEADERS) + 3 + len(spread)) + "|"]
    for name, evaluations in {**results, "all zeros (same frames)": [zeros]}.items():
        m = seed_mean(evaluations)
        gain = zeros.per_subject_mean.wmae / m["wmae"]
        low, high = wmae_range(evaluations)
        cells = [*(_cell(m[k]) for k in METRIC_NAMES), f"{gain:.2f}×"]
        if spread:
            cells.append(f"{low:.3f}–{high:.3f}" if len(evaluations) > 1 else "—")
        cells.append(f"{minutes[name]:.1f}" if name in minutes else "—")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def winners(results: dict[str, list[Evaluation]]) -> str:
    """The best configs by mean wMAE and by mean PCC; with several seeds, whether the best wMAE config's
    range over seeds lies clear of the runner-up's."""
    means = {name: seed_mean(evaluations) for name, evaluations in results.items()}
    ranked = sorted(means, key=lambda name: means[name]["wmae"])
    by_pcc = max(means, key=lambda name: np.nan_to_num(means[name]["pcc"], nan=-2.0))
    text = (f"winner by wMAE: {ranked[0]} ({means[ranked[0]]['wmae']:.3f}); "
            f"by PCC: {by_pcc} ({means[by_pcc]['pcc']:.3f})")
    if len(ranked) > 1 and len(results[ranked[0]]) > 1:
        best, second = wmae_range(results[ranked[0]]), wmae_range(results[ranked[1]])
        clear = "clear of" if best[1] < second[0] else "overlapping"
        text += (f"\nits wMAE over seeds {best[0]:.3f}–{best[1]:.3f} is {clear} the runner-up's, "
                 f"{ranked[1]} {second[0]:.3f}–{second[1]:.3f}")
    return text


def executor_for(args: argparse.Namespace) -> Executor:
    """The executor the command line asks for: Ray tasks (`--ray`), `--jobs` local processes, or this
    process."""
    if args.ray is not None:
        if args.jobs > 1:
            raise PainmonError("--jobs runs folds in local processes, --ray on a Ray cluster: choose one")
        from train.cluster import RayExecutor

        return RayExecutor(args.ray or None, cpus_per_fold=args.cpus_per_fold,
                           gpus_per_fold=args.gpus_per_fold)
    device = resolve_device(args.device)
    if args.jobs > 1:
        return Processes(args.jobs, device, threads=max(1, (os.cpu_count() or 1) // args.jobs))
    return InProcess(device)


def report_failures(failed: list[Failure]) -> int:
    """Print each fold that failed on every attempt; the exit status (1 if any failed, else 0)."""
    for failure in failed:
        print(f"FAILED {failure.job.label} ({failure.job.folder}): {failure.error}")
    return 1 if failed else 0


def loso_command(args: argparse.Namespace) -> int:
    """`painmon train loso --data DIR --config CFG --out RUN [--folds ...] [--iterations N]` with an
    executor (`--device`, `--jobs N`, `--ray [ADDRESS]`), or `--plan` for job arrays."""
    config, out = load_config(args.config), Path(args.out)
    if args.plan:
        from train.arrays import plan_command

        return plan_command(args, [RunSpec(config.name, config, out, Path(args.config))], out, sweep=False)
    result = run_loso(Path(args.data), config, out, folds=args.folds or None,
                      device=resolve_device(args.device), iterations=args.iterations,
                      config_path=Path(args.config), executor=executor_for(args), retries=args.retries)
    if result.evaluation is None:
        print(f"no held-out subject finished yet in {result.out}")
    else:
        m = result.evaluation.per_subject_mean
        print(f"{len(result.finished)} folds finished: per-subject MAE {m.mae:.3f}, MSE {m.mse:.3f}, "
              f"PCC {m.pcc:.3f}, wMAE {m.wmae:.3f}, wMSE {m.wmse:.3f}")
        print(f"predictions: {result.out / 'predictions.csv'}; report: {result.out / 'report' / 'report.md'}")
    return report_failures(result.failed)


def sweep_specs(args: argparse.Namespace) -> list[RunSpec]:
    """The runs `--config` files × `--seeds` ask for (a config's own seed when no --seeds)."""
    paths = [Path(p) for p in args.config]
    stems = [p.stem for p in paths]
    if len(set(stems)) != len(stems):
        raise PainmonError(f"--config files need distinct names (each names its folder): {', '.join(stems)}")
    configs = {p.stem: (load_config(p), p) for p in paths}
    if not args.seeds:
        return [RunSpec(c.name, c, Path(args.out) / key / f"seed{c.solver.seed}", p)
                for key, (c, p) in configs.items()]
    return grid_specs(configs, args.seeds, Path(args.out))


def sweep_command(args: argparse.Namespace) -> int:
    """`painmon train sweep --data DIR --config A.toml B.toml ... [--seeds 0 1 ...] --out SWEEP`."""
    specs, out = sweep_specs(args), Path(args.out)
    if args.plan:
        from train.arrays import plan_command

        return plan_command(args, specs, out, sweep=True)
    result = run_sweep(Path(args.data), specs, out, executor=executor_for(args), folds=args.folds or None,
                       iterations=args.iterations, retries=args.retries)
    for spec, error in result.refused.items():
        print(f"run {spec.out} refused: {error}")
    print(result.comparison or f"no held-out subject finished yet in {out}")
    return report_failures(result.grid.failed) or (1 if result.refused else 0)
