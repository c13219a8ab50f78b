"""Milliseconds per face of each backbone's regressor and of an AU ensemble of two small CNNs: PyTorch eager
(the baseline) vs ONNX Runtime, same run.

Usage: python benchmarks/backends.py [--repeats 7] [--batches 1 16]
Random-weight checkpoints are written to a temporary folder (speed does not depend on the weights or
on the face pixels); the ONNX export goes to a temporary painmon cache.
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

from engine.au import AUPainModel
from engine.backbone_specs import BACKBONES
from engine.backends import Predictor, create_predictor
from engine.checkpoint import PainModel, card_for, save_checkpoint
from engine.model import PainRegressor


def ms_per_face(predictors: list[Predictor], faces: np.ndarray, repeats: int) -> list[float]:
    """Median wall time per face of each predictor on `faces`, after two warm-up runs.

    The predictors take turns within each repeat, so load from other processes hits them alike.
    """
    times: list[list[float]] = [[] for _ in predictors]
    for repeat in range(repeats + 2):
        for predictor, series in zip(predictors, times, strict=True):
            start = time.perf_counter()
            predictor.predict(faces)
            if repeat >= 2:
                series.append(time.perf_counter() - start)
    return [1000 * statistics.median(series) / len(faces) for series in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        os.environ["PAINMON_CACHE_DIR"] = str(Path(folder, "cache"))
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())  # other processes skew the figures
        print(f"CPUs {len(os.sched_getaffinity(0))}, torch threads {torch.get_num_threads()}, load {load}")
        header = f"{'model':<26}{'batch':>6}{'torch ms/face':>15}{'onnx ms/face':>14}{'speed-up':>10}"
        print(header + f"{'onnx faces/s':>14}")
        rng = np.random.default_rng(0)
        models: dict[str, PainModel] = {name: PainRegressor(name) for name in BACKBONES}
        models["AU 2×face_cnn_small"] = AUPainModel([("face_cnn_small", None)] * 2)
        for index, (name, model) in enumerate(models.items()):
            card = card_for(model.eval(), name=f"bench-{index}", version="0", trained_on="random")
            checkpoint = save_checkpoint(Path(folder, f"{index}.safetensors"), model, card)
            torch_predictor = create_predictor(checkpoint, "torch", "cpu")
            onnx_predictor = create_predictor(checkpoint, "onnx", "cpu")
            for batch in args.batches:
                faces = rng.integers(0, 256, (batch, *model.input_size, 3), dtype=np.uint8)
                eager, ort = ms_per_face([torch_predictor, onnx_predictor], faces, args.repeats)
                ratio = eager / ort
                print(f"{name:<26}{batch:>6}{eager:>15.2f}{ort:>14.2f}{ratio:>9.1f}×{1000 / ort:>14.0f}")


if __name__ == "__main__":
    main()
