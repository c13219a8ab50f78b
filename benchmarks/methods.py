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
a note; a row that fails is reported and the others still print. A thin user of train.sweep: every
(row, seed) is a run in `--out`/<row>/seed<s>/, all folds share `--jobs` worker processes, and runs resume.

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
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.paths import DEMO_MODEL
from train.config import ConfigError, TrainConfig, load_config
from train.grid import Executor, InProcess, Processes
from train.loop import resolve_device
from train.sweep import grid_specs, run_sweep
from train.synth import write_twin

CONFIGS = Path(__file__).resolve().parent.parent / "train" / "configs"

ROWS = (
    "smooth_l1", "l1_l1center", "smooth_l1_l1center", "smooth_l1_l2center", "l1_softmax", "smooth_l1_softmax",
    "smooth_l1_l1center_sampling", "l1_l1center_sampling", "saliency_global", "saliency", "fn2en", "au_pspi",
)
"""train/configs/ stems of the rows, in table order."""


def cpu_sized(recipe: TrainConfig, demo: TrainConfig, size: tuple[int, int], iterations: int) -> TrainConfig:
    """`recipe`'s method, loss and sampling on the demo model at `size` and the demo solver; the
    method's own stage is scaled like the final stage (`iterations` instead of the recipe's
    solver.iterations), a face net that supervises it becomes the demo model, ensemble members the demo
    backbone."""
    config = dataclasses.replace(recipe, model=dataclasses.replace(demo.model, input_size=tuple(size)),
                                 solver=demo.solver)
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


def executor(jobs: int, device: str | None, threads: int) -> Executor:
    """Folds in this process (with progress bars) or in `jobs` local processes of `threads` threads."""
    torch.set_num_threads(threads)
    if jobs == 1:
        return InProcess(resolve_device(device))
    return Processes(jobs, resolve_device(device), threads=threads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--twin", type=Path, help="existing twin (default: render one into OUT/twin)")
    parser.add_argument("--out", type=Path, default=Path("out/bench_methods"),
                        help="sweep folder: OUT/<row>/seed<s>/ runs (resumed)")
    parser.add_argument("--subjects", type=int, default=25)
    parser.add_argument("--frames", type=int, default=300, help="frames per subject of a rendered twin")
    parser.add_argument("--seed", type=int, default=1, help="seed of a rendered twin (the demo model's is 0)")
    parser.add_argument("--iterations", type=int, default=200, help="final-stage iterations per fold")
    parser.add_argument("--size", type=int, nargs=2, default=(56, 48), metavar=("H", "W"),
                        help="model input size")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), help="train/configs/ stems to run")
    parser.add_argument("--solver-seeds", type=int, nargs="+", default=[0], metavar="SEED",
                        help="run every row once per solver seed; the table gives their mean")
    parser.add_argument("--jobs", type=int, default=2, help="folds run in parallel processes")
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

    configs: dict[str, tuple[TrainConfig, Path | None]] = {}
    for row in args.rows:
        recipe, why = available(row)
        if recipe is None:
            print(f"skipped {row}: {why}")
            continue
        configs[row] = (cpu_sized(recipe, demo, args.size, args.iterations), None)
    if not configs:
        print("no row to run")
        return 1
    specs = grid_specs(configs, args.solver_seeds, args.out)
    folds = sorted(p.name for p in (twin / "Images").iterdir() if p.is_dir())  # no all-subjects fit
    result = run_sweep(twin, specs, args.out, executor=executor(args.jobs, args.device, args.threads),
                       folds=folds, iterations=args.iterations, progress=args.jobs == 1)
    for spec, error in result.refused.items():
        print(f"row {spec.out.parent.name} ({spec.out.name}) failed: {error}")
    for failure in result.grid.failed:
        print(f"FAILED {failure.job.label}: {failure.error}")
    if not result.comparison:
        return 1
    seeds = ", ".join(map(str, args.solver_seeds))
    print("\nPer-subject means over the held-out subjects (the papers' protocol), synthetic twin, "
          f"solver seed(s) {seeds}:\n")
    print(result.comparison)
    for row in sorted({spec.out.parent.name for spec in result.runs}, key=list(configs).index):
        seconds = [s for job, (s, _) in result.grid.done.items() if job.run.parent.name == row]
        per_fold = f" ({sum(seconds) / len(seconds):.0f} s per fold)" if seconds else ""
        print(f"{configs[row][0].name}: {sum(seconds) / 60:.1f} min for {len(seconds)} newly trained "
              f"folds{per_fold}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
