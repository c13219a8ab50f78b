"""Every training method on one synthetic twin: leave-one-subject-out, one table, the all-zeros baseline.

Runs the 25 LOSO folds of each row (papers 000/001's regression rows, saliency supervision methods 1 and 2,
FaceNet2ExpNet, AU detection → PSPI), then prints the papers' per-subject means (FACTS.md §4) of every row
in one Markdown table with predicting all zeros on the same frames, each row's wMAE gain over all zeros,
and the winners by wMAE and by PCC.

The rows' own configs fine-tune InceptionResnetV1 for thousands of iterations: hours per fold on a CPU.
So every row here keeps its method, loss and sampling and takes one CPU-sized model and solver
(train/configs/demo.toml's, at a small input size), so rows are comparable and 25 folds take
minutes. The final stage runs `--iterations`; a method's own stage (`iterations` in its section) is scaled
by the same factor (--iterations / the row's solver.iterations). AU ensemble members become the small CNN;
FaceNet2ExpNet's face net becomes the demo model (assets/demo_model.safetensors, trained on a twin rendered
with seed 0) at its last conv block, so the twin here is rendered with another seed (1): no held-out
subject was seen by that face net. Rows whose config file or method is not on this branch are skipped with
a note; a row that fails is reported and the others still print. Runs resume from `--out`.

Measured on the shared 2-core machine at the defaults, one job: rendering the twin 1 min, aligning it
2.5 min; per row a regression row 2.6 min (6 s per fold), saliency method 2 4.4 min, AU ensemble 5.8 min,
FaceNet2ExpNet 8.4 min (its stage (a) runs the face net at 112×96 every iteration): about 45 minutes in all
with one job. Two jobs ran 1.3× faster than one there (the cores are shared with other work), so the
default two jobs take about 30–40 minutes. Usage:

    python benchmarks/methods.py [--rows ...] [--jobs 2] [--subjects 25] [--frames 300] [--iterations 200]
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
from train.config import METHOD_SECTIONS, ConfigError, TrainConfig, load_config
from train.evaluate import read_predictions
from train.loop import resolve_device
from train.loso import run_loso
from train.methods import METHODS
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


def cpu_sized(recipe: TrainConfig, demo: TrainConfig, size: tuple[int, int], iterations: int) -> TrainConfig:
    """`recipe`'s method, loss and sampling on the demo model at `size` and the demo solver; the method's own
    stage is scaled like the final stage (`iterations` instead of the recipe's solver.iterations)."""
    config = dataclasses.replace(recipe, model=dataclasses.replace(demo.model, input_size=tuple(size)),
                                 solver=demo.solver)
    section = METHOD_SECTIONS[recipe.method]
    if section is None:
        return config
    settings = getattr(recipe, section)
    changes: dict[str, object] = {}
    if hasattr(settings, "iterations"):
        changes["iterations"] = max(1, round(settings.iterations * iterations / recipe.solver.iterations))
    if recipe.method == "fn2en":
        changes |= {"teacher_checkpoint": str(DEMO_MODEL), "teacher_layer": ""}
        config = dataclasses.replace(config, name=f"{recipe.name} [face net here: the demo model]")
    if recipe.method == "au":
        changes["members"] = tuple(demo.model.backbone for _ in settings.members)
    return dataclasses.replace(config, **{section: dataclasses.replace(settings, **changes)})


def available(row: str) -> tuple[TrainConfig | None, str]:
    """The row's config, or None and why it is skipped."""
    path = CONFIGS / f"{row}.toml"
    if not path.exists():
        return None, f"no {path.relative_to(CONFIGS.parent.parent)} on this branch"
    try:
        recipe = load_config(path)
    except ConfigError as error:
        return None, str(error)
    if recipe.method not in METHODS:
        return None, f"method {recipe.method!r} is not registered in train.methods.METHODS on this branch"
    return recipe, ""


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


def table(results: dict[str, Evaluation], zeros: Evaluation, minutes: dict[str, float]) -> str:
    """One Markdown row per method: the per-subject means, wMAE gain over all zeros, minutes this run."""
    lines = ["| method | " + " | ".join(HEADERS) + " | all-zeros wMAE ÷ wMAE | minutes |",
             "|---" * (len(HEADERS) + 3) + "|"]
    for name, evaluation in {**results, "all zeros (same frames)": zeros}.items():
        m = evaluation.per_subject_mean.as_dict()
        gain = zeros.per_subject_mean.wmae / m["wmae"]
        spent = f"{minutes[name]:.1f}" if name in minutes else "—"
        lines.append(f"| {name} | " + " | ".join(_cell(m[k]) for k in METRIC_NAMES)
                     + f" | {gain:.2f}× | {spent} |")
    return "\n".join(lines)


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

    configs: dict[str, TrainConfig] = {}
    for row in args.rows:
        recipe, why = available(row)
        if recipe is None:
            print(f"skipped {row}: {why}")
            continue
        configs[row] = cpu_sized(recipe, demo, args.size, args.iterations)
    if not configs:
        print("no row to run")
        return 1
    # Align once before rows run in parallel: every row reads the same cache.
    dataset = load_unbc(twin)
    build_cache(dataset.frames, dataset.root, AlignSettings(tuple(args.size), demo.align.min_face_size))

    how = {"twin": twin, "iterations": args.iterations, "device": args.device, "threads": args.threads,
           "progress": args.jobs == 1}
    if args.jobs == 1:
        spent = {row: run_row(config, args.out / row, **how) for row, config in configs.items()}
    else:
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            futures = {row: pool.submit(run_row, config, args.out / row, **how)
                       for row, config in configs.items()}
            spent = {row: future.result() for row, future in futures.items()}
    for row, (_, _, error) in spent.items():
        if error:
            print(f"row {row} failed: {error}")
            del configs[row]
    if not configs:
        return 1

    results: dict[str, Evaluation] = {}
    for row, config in configs.items():
        frames = read_predictions(args.out / row / "predictions.csv")
        results[config.name] = evaluate(frames.subject, frames.label, frames.prediction)
    zeros = evaluate(frames.subject, frames.label, np.zeros_like(frames.label))
    minutes = {config.name: spent[row][0] / 60 for row, config in configs.items()}

    print("\nPer-subject means over the held-out subjects (the papers' protocol), synthetic twin:\n")
    print(table(results, zeros, minutes))
    print()
    for row, config in configs.items():
        seconds, trained, _ = spent[row]
        print(f"{config.name}: {seconds / 60:.1f} min for {trained} newly trained folds "
              f"({seconds / max(trained, 1):.0f} s per fold)")
    by_wmae = min(results, key=lambda name: results[name].per_subject_mean.wmae)
    by_pcc = max(results, key=lambda name: np.nan_to_num(results[name].per_subject_mean.pcc, nan=-2.0))
    print(f"winner by wMAE: {by_wmae} ({results[by_wmae].per_subject_mean.wmae:.3f}); "
          f"by PCC: {by_pcc} ({results[by_pcc].per_subject_mean.pcc:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
