"""Folds as Ray tasks: `painmon train loso|sweep ... --ray [ADDRESS]` (`pip install 'painmon[cluster]'`).

Workers need not share a file system with the driver: each distinct input of the grid (the frames' arrays and
every aligned crop, packed in memory) goes to the object store once; a task runs its fold in a scratch folder
on its worker and returns the fold's files, which the driver writes into the run folder (train.grid). Each
task asks for `--cpus-per-fold` CPUs (its torch threads) and `--gpus-per-fold` GPUs (a fraction packs small
models onto one GPU; more than 0 trains on CUDA). Without ADDRESS Ray joins the cluster in RAY_ADDRESS or
starts one on this machine. Workers need painmon installed at the driver's version.
"""

from __future__ import annotations

import math
import tempfile
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import torch

from engine.errors import PainmonError
from train.align_cache import AlignedFrames
from train.fold import FoldInputs, fold_files
from train.grid import FoldDone, Job, timed_fold


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise PainmonError("--ray needs the ray package: pip install 'painmon[cluster]'") from None
    return ray


def ray_fold(job: Job, inputs: FoldInputs, device: str, threads: int) -> FoldDone:
    """A Ray task's body: the fold in a scratch folder of the worker, its files sent back."""
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="painmon-fold-") as scratch:
        folder = Path(scratch) / job.unit.fold
        seconds = timed_fold(job, inputs, folder, device=torch.device(device), progress=False)
        return FoldDone(fold_files(folder) if folder.exists() else {}, seconds)


class RayExecutor:
    """Runs each fold as a Ray task with the resources asked per fold."""

    def __init__(self, address: str | None, *, cpus_per_fold: float = 1.0,
                 gpus_per_fold: float = 0.0) -> None:
        if cpus_per_fold <= 0 or gpus_per_fold < 0:
            raise PainmonError("--cpus-per-fold must be positive and --gpus-per-fold not negative")
        self.address, self.cpus, self.gpus = address, cpus_per_fold, gpus_per_fold
        self.refs: dict[str, Any] = {}
        self.task: Any = None
        self.started_ray = False

    def start(self, inputs: dict[str, FoldInputs]) -> None:
        ray = _ray()
        if not ray.is_initialized():
            ray.init(address=self.address, log_to_driver=False)
            self.started_ray = True
        start = time.perf_counter()
        self.refs = {key: ray.put(FoldInputs(value.frames, value.aligned.packed()
                                             if isinstance(value.aligned, AlignedFrames) else value.aligned))
                     for key, value in inputs.items()}
        seconds = time.perf_counter() - start
        print(f"ray: {len(self.refs)} input(s) in the object store in {seconds:.1f} s; cluster "
              f"{ray.cluster_resources()}", flush=True)
        self.task = ray.remote(ray_fold).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=0)

    def slots(self) -> int:
        """How many folds the cluster runs at once now (it may grow or shrink)."""
        resources = _ray().cluster_resources()
        fits = math.floor(resources.get("CPU", 0) / self.cpus)
        if self.gpus:
            fits = min(fits, math.floor(resources.get("GPU", 0) / self.gpus))
        return max(1, fits)

    def submit(self, job: Job) -> Future[FoldDone]:
        device = "cuda" if self.gpus else "cpu"
        future: Future[FoldDone] = self.task.remote(job, self.refs[job.inputs], device,
                                                    max(1, math.floor(self.cpus))).future()
        return future

    def close(self) -> None:
        if self.started_ray:
            _ray().shutdown()
