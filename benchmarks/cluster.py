"""A sweep of 2 configs × 2 solver seeds × 5 LOSO folds on a synthetic twin, run three ways: one fold after
another in this process, `--jobs` local worker processes, and Ray tasks on a local Ray cluster of `--jobs`
CPUs (or the cluster at `--ray ADDRESS`). Prints each way's wall time, the folds' own time where they ran,
and the per-fold overhead (the fold's time as the driver saw it minus its time on the worker: the median,
and the largest, which includes starting a worker), and checks
that every way wrote the same predictions.

The model is the small CNN at 56×48 (train/configs/demo.toml) with `--iterations` per fold, so that the
overheads show against folds of seconds. Usage:

    python benchmarks/cluster.py [--out out/bench_cluster] [--iterations 100] [--jobs 2] [--ray ADDRESS]
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from train.cluster import RayExecutor
from train.config import load_config
from train.grid import Executor, InProcess, Processes
from train.sweep import grid_specs, run_sweep
from train.synth import write_twin

CONFIGS = Path(__file__).resolve().parent.parent / "train" / "configs"


def run_way(name: str, executor: Executor, twin: Path, out: Path, iterations: int) -> dict[str, float]:
    """One sweep from scratch on `executor`: wall seconds, fold seconds and per-fold overhead."""
    shutil.rmtree(out, ignore_errors=True)
    demo = load_config(CONFIGS / "demo.toml")
    small = dataclasses.replace(demo.model, input_size=(56, 48))
    recipes = {key: load_config(CONFIGS / f"{key}.toml") for key in ("smooth_l1", "l1_l1center_sampling")}
    configs = {key: (dataclasses.replace(recipe, model=small, solver=demo.solver), None)
               for key, recipe in recipes.items()}
    specs = grid_specs(configs, [0, 1], out)
    folds = sorted(p.name for p in (twin / "Images").iterdir())
    start = time.perf_counter()
    result = run_sweep(twin, specs, out, executor=executor, folds=folds, iterations=iterations,
                       progress=False)
    wall = time.perf_counter() - start
    if result.grid.failed or result.refused or len(result.grid.done) != len(specs) * len(folds):
        raise SystemExit(f"{name}: the sweep did not finish: {result.grid.failed} {result.refused}")
    on_worker = np.array([seconds for seconds, _ in result.grid.done.values()])
    seen = np.array([driver for _, driver in result.grid.done.values()])
    overhead = seen - on_worker
    return {"wall": wall, "folds": len(on_worker), "fold_s": float(on_worker.mean()),
            "median_s": float(np.median(overhead)), "max_s": float(overhead.max())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("out/bench_cluster"))
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2, help="local processes; CPUs of a local Ray cluster")
    parser.add_argument("--ray", default=None, metavar="ADDRESS", help="a running Ray cluster instead")
    args = parser.parse_args(argv)
    twin = args.out / "twin"
    if not twin.exists():
        write_twin(twin, subjects=5, frames_per_subject=100, seed=1, progress=False)
    torch.set_num_threads(1)
    import ray

    start = time.perf_counter()
    ray.init(address=args.ray, num_cpus=None if args.ray else args.jobs, include_dashboard=False,
             log_to_driver=False)
    ray_start = time.perf_counter() - start
    ways = {"this process, one fold at a time": InProcess(torch.device("cpu"), progress=False),
            f"{args.jobs} local processes": Processes(args.jobs, torch.device("cpu")),
            f"Ray ({ray.cluster_resources().get('CPU', 0):.0f} CPUs, 1 per fold)": RayExecutor(args.ray)}
    results = {}
    for number, (name, executor) in enumerate(ways.items()):
        results[name] = run_way(name, executor, twin, args.out / f"way{number}", args.iterations)
    ray.shutdown()
    print(f"2 configs × 2 seeds × 5 folds, small CNN 56×48, {args.iterations} iterations per fold; "
          f"ray.init {ray_start:.1f} s (not in the wall times)\n")
    print("| how | wall s | folds | mean fold s on its worker | per-fold overhead s: median | largest |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['wall']:.1f} | {r['folds']:.0f} | {r['fold_s']:.2f} | {r['median_s']:.2f} | "
              f"{r['max_s']:.2f} |")
    first = args.out / "way0"
    same = all((args.out / f"way{n}" / p.relative_to(first)).read_bytes() == p.read_bytes()
               for n in range(1, len(ways)) for p in first.glob("*/seed*/predictions.csv"))
    print(f"\nthe same predictions, bit for bit, every way: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
