"""Every training method on one synthetic twin: leave-one-subject-out, one table, the all-zeros baseline.

Runs the 25 LOSO folds of each row (papers 000/001's regression rows, saliency supervision methods 1 and 2,
FaceNet2ExpNet, AU detection → PSPI), then prints the papers' per-subject means (FACTS.md §4) of every row
in one Markdown table with predicting all zeros on the same frames, each row's wMAE gain over all zeros,
and the winners by wMAE and by PCC. With several `--solver-seeds` every row runs once per seed (the seed
draws the initial weights, the sampled batches and the mirroring) and the table gives the mean over seeds with
each row's wMAE range, so that a winner can be told from run-to-run spread.

The rows' own configs fine-tune InceptionResnetV1 for thousands of iterations: hours per fold on a CPU.
So every row here keeps its method, loss and sampling and takes one CPU-sized model and solver
(train/configs/demo.toml's, at a small input size), so rows are comparable and 25 folds take
minutes. The final stage runs `--iterations`; a method's own stage (`iterations` in its section) is scaled
by the same factor (--iterations / the row's solver.iterations). AU ensemble members become the small CNN;
FaceNet2ExpNet's face net becomes the demo model (assets/demo_model.safetensors, trained on a twin rendered
with seed 0) at its last conv block, so the twin here is rendered with another seed (1): no held-out
subject was seen by that face net. Rows whose config file or method is not on this branch are skipped with
a note; a row that fails is reported and the others still print. Runs resume from `--out`.

Measured on the shared 2-core machine at the defaults (two jobs of one thread): rendering the twin 1 min,
aligning it 2.5 min; per fold, a regression row 7 s, saliency method 1 9 s and method 2 12 s, the AU
ensemble 15 s, FaceNet2ExpNet 23 s (its stage (a) runs the face net at 112×96 every iteration). One seed of
every row takes about 33 minutes, three seeds about 80. The runs are deterministic: the same code, twin and
seed give the same predictions to the bit; another solver seed moves a row's wMAE by up to ±0.08. Usage:

    python benchmarks/methods.py [--rows ...] [--jobs 2] [--subjects 25] [--frames 300] [--iterations 200]
                                 [--solver-seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.errors import PainmonError
from engine.paths import DEMO_MODEL
from train.align_cache import AlignSettings, build_cache
from train.config import ConfigError, TrainConfig, load_config
from train.evaluate import read_predictions
from train.loop import resolve_device
from train.loso import run_loso
from train.metrics import METRIC_NAMES, Evaluation, evaluate
from train.report import HEADERS
from train.synth import write_twin
from train.unbc import load_unbc

CONFIGS = Path(__file__).resolve().parent.parent / "train" / "configs"

ROWS = (
    "smooth_l1", "l1_l1center", "smooth_l1_l1center", "smooth_l1_l2center", "l1_softmax", "smooth_l1_softmax",
    "smooth_l1_l1center_sampling", "l1_l1center_sampling", "saliency_global", "saliency", "fn2en", "au_pspi",
)
"""train/configs/ stems of the rows, in table order."""


def cpu_sized(recipe: TrainConfig, demo: TrainConfig, size: tuple[int, int], iterations: int,
              seed: int) -> TrainConfig:
    """`recipe`'s method, loss and sampling on the demo model at `size` and the demo solver with `seed`; the
    method's own stage is scaled like the final stage (`iterations` instead of the recipe's
    solver.iterations), a face net that supervises it becomes the demo model, ensemble members the demo
    backbone."""
    config = dataclasses.replace(recipe, model=dataclasses.replace(demo.model, input_size=tuple(size)),
                                 solver=dataclasses.replace(demo.solver, seed=seed))
    settings = recipe.settings
    if settings is None:
        return config
    changes: dict[str, object] = {}
    if hasattr(settings, "iterations"):
        changes["iterations"] = max(1, round(settings.iterations * iterations / recipe.solver.iterations))
    if hasattr(settings, "teacher_checkpoint"):
        changes |= {"teacher_checkpoint": str(DEMO_MODEL), "teacher_layer": ""}
        config = dataclasses.replace(config, name=f"{recipe.name} [face net here: the demo model]")
    if hasattr(settings, "members"):
        changes["members"] = tuple(demo.model.backbone for _ in settings.members)
    return dataclasses.replace(config, settings=dataclasses.replace(settings, **changes))


def available(row: str) -> tuple[TrainConfig | None, str]:
    """The row's config, or None and why it is skipped (a config whose method is not on this branch does
    not load)."""
    path = CONFIGS / f"{row}.toml"
    if not path.exists():
        return None, f"no {path.relative_to(CONFIGS.parent.parent)} on this branch"
    try:
        return load_config(path), ""
    except ConfigError as error:
        return None, str(error)


def run_row(config: TrainConfig, out: Path, *, twin: Path, iterations: int, device: str | None, threads: int,
            progress: bool) -> tuple[float, int, str]:
    """LOSO over every subject of the twin (no all-subjects fit).

    Returns seconds, newly trained folds, and the error that stopped the row ("" if none): one row's bad
    input (e.g. a run folder of another config) does not end the others.
    """
    torch.set_num_threads(threads)
    start = time.perf_counter()
    folds = sorted(p.name for p in (twin / "Images").iterdir() if p.is_dir())
    try:
        result = run_loso(twin, config, out, folds=folds, device=resolve_device(device),
                          iterations=iterations, progress=progress)
    except PainmonError as error:
        return time.perf_counter() - start, 0, str(error)
    return time.perf_counter() - start, len(result.trained), ""


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
    """One Markdown row per method: the per-subject means (averaged over seeds), wMAE gain over all zeros,
    the wMAE range over seeds where there are several, and minutes per seed trained in this run."""
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
    """The best rows by mean wMAE and by mean PCC; with several seeds, whether the best wMAE row's range
    over seeds lies clear of the runner-up's."""
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--twin", type=Path, help="existing twin (default: render one into OUT/twin)")
    parser.add_argument("--out", type=Path, default=Path("out/bench_methods"), help="runs go here (resumed)")
    parser.add_argument("--subjects", type=int, default=25)
    parser.add_argument("--frames", type=int, default=300, help="frames per subject of a rendered twin")
    parser.add_argument("--seed", type=int, default=1, help="seed of a rendered twin (the demo model's is 0)")
    parser.add_argument("--iterations", type=int, default=200, help="final-stage iterations per fold")
    parser.add_argument("--size", type=int, nargs=2, default=(56, 48), metavar=("H", "W"),
                        help="model input size")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), help="train/configs/ stems to run")
    parser.add_argument("--solver-seeds", type=int, nargs="+", default=[0], metavar="SEED",
                        help="run every row once per solver seed; the table gives their mean")
    parser.add_argument("--jobs", type=int, default=2, help="rows run in parallel processes")
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads per process (1 is fastest on a shared 2-core machine)")
    args = parser.parse_args(argv)
    twin = args.twin or args.out / "twin"
    if not twin.exists():
        write_twin(twin, subjects=args.subjects, frames_per_subject=args.frames, seed=args.seed)
    demo = load_config(CONFIGS / "demo.toml")
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print(f"twin {twin}; model {demo.model.backbone} {args.size[0]}×{args.size[1]}, {args.iterations} "
          f"final-stage iterations of batch {demo.solver.batch_size} at lr {demo.solver.lr} per fold, "
          f"{args.jobs} job(s) of {args.threads} thread(s)")

    configs: dict[str, dict[int, TrainConfig]] = {}
    for row in args.rows:
        recipe, why = available(row)
        if recipe is None:
            print(f"skipped {row}: {why}")
            continue
        configs[row] = {seed: cpu_sized(recipe, demo, args.size, args.iterations, seed)
                        for seed in args.solver_seeds}
    if not configs:
        print("no row to run")
        return 1
    # Align once before rows run in parallel: every row reads the same cache.
    dataset = load_unbc(twin)
    build_cache(dataset.frames, dataset.root, AlignSettings(tuple(args.size), demo.align.min_face_size))

    runs = {(row, seed): config for row, by_seed in configs.items() for seed, config in by_seed.items()}
    folders = {(row, seed): args.out / f"seed{seed}" / row for row, seed in runs}
    how = {"twin": twin, "iterations": args.iterations, "device": args.device, "threads": args.threads,
           "progress": args.jobs == 1}
    if args.jobs == 1:
        spent = {run: run_row(config, folders[run], **how) for run, config in runs.items()}
    else:
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            futures = {run: pool.submit(run_row, config, folders[run], **how) for run, config in runs.items()}
            spent = {run: future.result() for run, future in futures.items()}
    for (row, seed), (_, _, error) in spent.items():
        if error and row in configs:
            print(f"row {row} (solver seed {seed}) failed: {error}")
            del configs[row]
    if not configs:
        return 1

    names = {row: by_seed[args.solver_seeds[0]].name for row, by_seed in configs.items()}
    results: dict[str, list[Evaluation]] = {names[row]: [] for row in configs}
    for row in configs:
        for seed in args.solver_seeds:
            frames = read_predictions(folders[row, seed] / "predictions.csv")
            results[names[row]].append(evaluate(frames.subject, frames.label, frames.prediction))
    zeros = evaluate(frames.subject, frames.label, np.zeros_like(frames.label))
    timings = {row: [spent[row, seed][:2] for seed in args.solver_seeds] for row in configs}  # (s, new folds)
    # Minutes per seed that trained in this run (a seed resumed from finished folds takes none).
    minutes = {names[row]: float(np.mean([s for s, new in per_seed if new])) / 60
               for row, per_seed in timings.items() if any(new for _, new in per_seed)}

    seeds = ", ".join(map(str, args.solver_seeds))
    print("\nPer-subject means over the held-out subjects (the papers' protocol), synthetic twin, "
          f"solver seed(s) {seeds}:\n")
    print(table(results, zeros, minutes))
    print()
    for row, per_seed in timings.items():
        seconds, trained = sum(s for s, _ in per_seed), sum(new for _, new in per_seed)
        per_fold = f" ({seconds / trained:.0f} s per fold)" if trained else ""
        print(f"{names[row]}: {seconds / 60:.1f} min for {trained} newly trained folds{per_fold}")
    print(winners(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
