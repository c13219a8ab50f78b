"""LOSO benchmark on a synthetic twin: the papers' best recipe against the all-zeros baseline.

Runs the 25 leave-one-subject-out folds of a table row's loss and sampling (default: smooth-L1 + L1 center
loss + sampling) on the small CPU backbone, then prints the papers' table for it and for predicting all
zeros on the same frames, and checks per-subject PCC ≥ 0.8 and a wMAE at least 2× better than all zeros.

The papers' rows fine-tune InceptionResnetV1 for 5,000 iterations; that is hours per fold on a CPU, so this
benchmark keeps each row's loss and sampling and takes the model and solver of train/configs/demo.toml,
with a smaller input (56×48 by default) and fewer iterations (300 by default), so that 25 folds finish in
minutes on two CPU cores. Usage:

    python benchmarks/loso.py [--twin DIR] [--subjects 25] [--frames 300] [--iterations 300] [--rows ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from train.config import load_config
from train.evaluate import read_predictions
from train.loop import resolve_device
from train.loso import run_loso
from train.metrics import evaluate
from train.report import markdown_table
from train.synth import write_twin

CONFIGS = Path(__file__).resolve().parent.parent / "train" / "configs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--twin", type=Path, help="existing twin (default: render one into OUT/twin)")
    parser.add_argument("--out", type=Path, default=Path("out/bench_loso"), help="runs go here (resumed)")
    parser.add_argument("--subjects", type=int, default=25)
    parser.add_argument("--frames", type=int, default=300, help="frames per subject of a rendered twin")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--size", type=int, nargs=2, default=(56, 48), metavar=("H", "W"),
                        help="model input size")
    parser.add_argument("--rows", nargs="+", default=["smooth_l1_l1center_sampling"],
                        help="train/configs/ rows to run (their loss and sampling)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (1 is fastest on a shared 2-core machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    twin = args.twin or args.out / "twin"
    if not twin.exists():
        write_twin(twin, subjects=args.subjects, frames_per_subject=args.frames, seed=0)
    demo = load_config(CONFIGS / "demo.toml")
    model = dataclasses.replace(demo.model, input_size=tuple(args.size))
    device = resolve_device(args.device)
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print(f"twin {twin}; model {model.backbone} {args.size[0]}×{args.size[1]}, {args.iterations} iterations "
          f"of batch {demo.solver.batch_size} at lr {demo.solver.lr} per fold, {device}, "
          f"{args.threads} thread(s)")

    results = {}
    timings = []
    for row in args.rows:
        recipe = load_config(CONFIGS / f"{row}.toml")
        config = dataclasses.replace(recipe, model=model, solver=demo.solver)
        start = time.perf_counter()
        result = run_loso(twin, config, args.out / row, device=device, iterations=args.iterations,
                          folds=_held_out_folds(twin))
        timings.append((recipe.name, time.perf_counter() - start, len(result.trained)))
        results[recipe.name] = result.evaluation
    frames = read_predictions(args.out / args.rows[-1] / "predictions.csv")
    zeros = evaluate(frames.subject, frames.label, np.zeros_like(frames.label))
    results["all zeros (same frames)"] = zeros

    print("\nPer-subject means over the held-out subjects (the papers' protocol), synthetic twin:\n")
    print(markdown_table(results, reference=True))
    print()
    for name, seconds, trained in timings:
        print(f"{name}: {seconds / 60:.1f} min for {trained} newly trained folds")
    ok = True
    for name, evaluation in results.items():
        if evaluation is zeros:
            continue
        m = evaluation.per_subject_mean
        ratio = zeros.per_subject_mean.wmae / m.wmae
        passed = m.pcc >= 0.8 and ratio >= 2.0
        ok &= passed
        print(f"{name}: per-subject PCC {m.pcc:.3f} (target ≥ 0.8), wMAE {m.wmae:.3f} vs all zeros "
              f"{zeros.per_subject_mean.wmae:.3f}: {ratio:.2f}× better (target ≥ 2×) → "
              f"{'PASS' if passed else 'FAIL'}")
    return 0 if ok else 1


def _held_out_folds(twin: Path) -> list[str]:
    """Every subject, and no all-subjects fit: the benchmark deploys nothing."""
    return sorted(p.name for p in (twin / "Images").iterdir() if p.is_dir())


if __name__ == "__main__":
    raise SystemExit(main())
