"""Faces per second of the regressor on the GPU backends against ONNX Runtime on the CPU, in the same run.

Rows: ONNX Runtime CPU (the baseline), PyTorch CUDA FP32, PyTorch CUDA FP16 (autocast), and TensorRT
FP32/FP16 where TensorRT is installed (engines built and verified into a temporary cache first).
Usage: python benchmarks/gpu_backends.py [--backbone inception_resnet_v1] [--batches 1 16] [--repeats 20]
Random weights: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

Run = Callable[[np.ndarray], object]


def faces_per_second(run: Run, faces: np.ndarray, repeats: int, sync: Callable[[], None]) -> float:
    """Median faces/s of `run` on `faces` after three warm-up calls."""
    times = []
    for repeat in range(repeats + 3):
        start = time.perf_counter()
        run(faces)
        sync()
        if repeat >= 3:
            times.append(time.perf_counter() - start)
    return len(faces) / statistics.median(times)


def torch_cuda(model: torch.nn.Module, half: bool) -> Run:
    """PyTorch on CUDA as the torch backend feeds it (uint8 to the device, then float), FP16 by autocast."""
    model = model.to("cuda").eval()

    @torch.inference_mode()
    def run(faces: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(faces).to("cuda").permute(0, 3, 1, 2).float()
        with torch.autocast("cuda", torch.float16, enabled=half):
            return model(x)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="inception_resnet_v1")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        os.environ["PAINMON_CACHE_DIR"] = str(Path(folder, "cache"))
        from engine.backends import create_predictor
        from engine.backends.select import tensorrt_unavailable
        from engine.checkpoint import card_for, save_checkpoint
        from engine.model import PainRegressor
        from engine.tensorrt.gpu import cuda_gpu

        model = PainRegressor(args.backbone).eval()
        card = card_for(model, name="bench", version="0", trained_on="random weights")
        checkpoint = save_checkpoint(Path(folder, "bench.safetensors"), model, card)
        gpu = cuda_gpu()
        print(f"GPU: {gpu.name if gpu else 'none'}; torch {torch.__version__}; backbone {args.backbone}")
        rows: list[tuple[str, Run, Callable[[], None]]] = [
            ("onnxruntime cpu fp32", create_predictor(checkpoint, "onnx", "cpu").predict, lambda: None)]
        if gpu is not None:
            for half in (False, True):
                rows.append((f"torch cuda {'fp16' if half else 'fp32'}", torch_cuda(model, half),
                             torch.cuda.synchronize))
        reason = tensorrt_unavailable()
        if reason is None:
            from engine.backends.tensorrt_backend import TensorRTPredictor
            from engine.tensorrt.engines import ensure_engines, model_networks

            for precision in ("fp32", "fp16"):
                engines = ensure_engines(model_networks(checkpoint)[:1], precision, gpu)
                predictor = TensorRTPredictor.from_engines(engines, checkpoint)
                rows.append((f"tensorrt {precision}", predictor.predict, torch.cuda.synchronize))
        else:
            print(f"TensorRT rows skipped: {reason}")

        rng = np.random.default_rng(0)
        print(f"{'backend':<22}{'batch':>6}{'faces/s':>10}{'× baseline':>12}")
        for batch in args.batches:
            faces = rng.integers(0, 256, (batch, *model.input_size, 3), dtype=np.uint8)
            baseline = None
            for name, run, sync in rows:
                rate = faces_per_second(run, faces, args.repeats, sync)
                baseline = baseline or rate
                print(f"{name:<22}{batch:>6}{rate:>10.1f}{rate / baseline:>11.1f}×")


if __name__ == "__main__":
    main()
