"""Seconds per training iteration: the regression (baseline) vs paper 002's saliency pre-training.

Usage: python benchmarks/saliency.py [--backbone face_cnn_small] [--size 56 48] [--batch 16]
           [--iterations 20] [--repeats 3] [--device cpu]
Same run, same input size and batch for every row: the regression fit (`fit_regression`), the pre-training
with global triplet steps only (method 1) and with global + local saliency steps (method 2). Images are
random (speed does not depend on the pixels); each figure is the median over the repeats, the variants
taking turns so that load from other processes hits them alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from engine.align import template_for
from engine.au import DEFAULT_AUS
from engine.checkpoint import PainModel
from train.config import TrainConfig, config_from_dict
from train.loop import resolve_device
from train.methods import METHODS, TrainingSet
from train.methods.regression import fit_regression
from train.methods.saliency import pretrain


def _data(size: tuple[int, int], n: int = 240) -> TrainingSet:
    rng = np.random.default_rng(0)
    levels = np.arange(n) % 6
    images = rng.integers(0, 255, (n, *size, 3), dtype=np.uint8)
    aus = rng.integers(0, 4, (n, len(DEFAULT_AUS))).astype(np.float32)
    landmarks = np.repeat(template_for(size)[None], n, axis=0)
    return TrainingSet(lambda r: images[r], np.arange(n), levels, np.array(["s"] * n), DEFAULT_AUS, aus,
                       landmarks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="face_cnn_small")
    parser.add_argument("--size", type=int, nargs=2, default=[56, 48], metavar=("H", "W"))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = resolve_device(args.device)
    size = tuple(args.size)
    data = _data(size)

    def config(local: bool) -> TrainConfig:
        return config_from_dict({
            "name": "bench", "method": "saliency",
            "model": {"backbone": args.backbone, "input_size": list(size)},
            "loss": {"regularizer": "center"}, "sampling": {"uniform_classes": True},
            "solver": {"lr": 0.01, "batch_size": args.batch, "iterations": args.iterations,
                       "snapshot_every": 10 * args.iterations},
            "saliency": {"iterations": args.iterations, "local": local}})

    def regression(model: PainModel, folder: Path) -> None:
        fit_regression(model, config(True), data, device=device, iterations=args.iterations, folder=folder,
                       progress=None)

    def global_only(model: PainModel, folder: Path) -> None:
        pretrain(model, config(False), data, device=device, folder=folder, progress=None)

    def global_and_local(model: PainModel, folder: Path) -> None:
        pretrain(model, config(True), data, device=device, folder=folder, progress=None)

    variants = {"regression (baseline)": regression, "pre-training, global only (method 1)": global_only,
                "pre-training, global + local (method 2)": global_and_local}
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for number, (name, train) in enumerate(variants.items()):
                model = METHODS["saliency"].new_model(config(True))
                folder = Path(tmp, f"{repeat}-{number}")
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                train(model, folder)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                seconds[name].append((time.perf_counter() - start) / args.iterations)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())  # other processes skew the figures
    print(f"{args.backbone} {size[0]}×{size[1]}, batch {args.batch}, {args.iterations} iterations, "
          f"device {device}, torch threads {torch.get_num_threads()}, load {load}")
    baseline = statistics.median(seconds["regression (baseline)"])
    print(f"{'stage':<42}{'s/iteration':>12}{'× regression':>14}")
    for name, series in seconds.items():
        median = statistics.median(series)
        print(f"{name:<42}{median:>12.4f}{median / baseline:>14.2f}")


if __name__ == "__main__":
    main()
