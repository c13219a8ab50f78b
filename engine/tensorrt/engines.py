"""A model's engines on this GPU: from the plan cache, or built, verified and cached (also in the background).

A cached plan was verified when it was built and loads as it is; one TensorRT can no longer deserialize
(None) is discarded and rebuilt. A new engine is run against PyTorch on the verification inputs and refused
(EngineVerificationError, nothing cached) if it is beyond the tolerances.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from engine.errors import BackendUnavailableError
from engine.onnx_files import model_sha256
from engine.tensorrt import EngineBuildError, import_tensorrt
from engine.tensorrt.builder import ProgressCallback, build_plan
from engine.tensorrt.cache import PlanCache, PlanKey
from engine.tensorrt.gpu import Gpu, cuda_gpu
from engine.tensorrt.networks import (
    NetworkSpec,
    mtcnn_networks,
    network_inputs,
    regressor_network,
    verification_frames,
)
from engine.tensorrt.runtime import TensorRTNet
from engine.tensorrt.verify import Parity, measure, refuse_if_off

log = logging.getLogger(__name__)

Inputs = dict[str, list[torch.Tensor]]


def plan_key(spec: NetworkSpec, precision: str, gpu: Gpu) -> PlanKey:
    """The cache key of `spec`'s engine at `precision` on `gpu` with the installed TensorRT."""
    return PlanKey(spec.name, model_sha256(spec.onnx(precision)), import_tensorrt().__version__, gpu.name,
                   gpu.compute_capability, precision, spec.profile)


def cached_engine(spec: NetworkSpec, precision: str, gpu: Gpu, *, device: torch.device | None = None,
                  cache: PlanCache | None = None) -> TensorRTNet | None:
    """The verified engine from the plan cache, or None (a plan that no longer loads is discarded)."""
    cache = cache or PlanCache()
    key = plan_key(spec, precision, gpu)
    plan = cache.load(key)
    if plan is None:
        return None
    net = TensorRTNet.from_plan(plan, device or gpu.device)
    if net is None:
        log.warning("cached TensorRT plan %s does not load (deserialize returned None); it will be rebuilt",
                    cache.plan_path(key).name)
        cache.discard(key)
    return net


def engines_cached(specs: Sequence[NetworkSpec], precision: str, gpu: Gpu,
                   cache: PlanCache | None = None) -> bool:
    """Whether every spec has a verified plan in the cache for `gpu` and the installed TensorRT."""
    cache = cache or PlanCache()
    return all(cache.plan_path(plan_key(spec, precision, gpu)).is_file() for spec in specs)


def build_verified_engine(spec: NetworkSpec, precision: str, gpu: Gpu, inputs: Inputs, *,
                 device: torch.device | None = None, cache: PlanCache | None = None,
                 progress: ProgressCallback | None = None,
                 cancel: threading.Event | None = None) -> tuple[TensorRTNet, list[Parity]]:
    """Build, verify against PyTorch on `inputs[spec.name]`, and cache `spec`'s engine."""
    cache = cache or PlanCache()
    trt = import_tensorrt()
    key = plan_key(spec, precision, gpu)
    onnx_path = spec.onnx(precision)
    plan = build_plan(onnx_path, spec.profile, cache.timing_cache_path(trt.__version__, gpu),
                      progress=progress, cancel=cancel)
    net = TensorRTNet.from_plan(plan, device or gpu.device)
    if net is None:
        raise EngineBuildError(f"TensorRT built a {spec.name} plan it cannot load")
    batches = inputs[spec.name]
    reference = [spec.reference(x) for x in batches]

    def run(x: torch.Tensor) -> dict[str, np.ndarray]:
        return {name: value.cpu().float().numpy() for name, value in net(x).items()}

    parities = measure(spec, run, batches, reference, backend="tensorrt", precision=precision)
    refuse_if_off(parities, f"TensorRT {precision} engine of {spec.name}")
    built = datetime.now(UTC).isoformat(timespec="seconds")
    path = cache.store(key, plan, {"onnx": str(onnx_path), "built": built,
                                   "parity": [p.as_dict() for p in parities]})
    log.info("TensorRT %s engine of %s verified and cached as %s", precision, spec.name, path.name)
    return net, parities


@dataclass
class EngineSet:
    """Verified engines for one model: the regressor and MTCNN's PNet, RNet, ONet, by network name."""

    precision: str
    nets: dict[str, TensorRTNet]
    parities: list[Parity]


@dataclass(frozen=True)
class BuildProgress:
    """Where a build is: network `index` of `count`, and TensorRT's current phase within it."""

    network: str
    index: int
    count: int
    phase: str
    step: int
    steps: int


def ensure_engines(specs: Sequence[NetworkSpec], precision: str, gpu: Gpu, *,
                   frames: Callable[[], Sequence[np.ndarray]] = verification_frames,
                   device: torch.device | None = None,
                   cache: PlanCache | None = None, progress: Callable[[BuildProgress], None] | None = None,
                   cancel: threading.Event | None = None) -> EngineSet:
    """Every spec's engine: cached if present, else built and verified (frames are rendered only then)."""
    nets: dict[str, TensorRTNet] = {}
    parities: list[Parity] = []
    inputs: Inputs | None = None
    for index, spec in enumerate(specs):
        net = cached_engine(spec, precision, gpu, device=device, cache=cache)
        if net is None:
            if inputs is None:
                face_size = next((s.profile.max[2:] for s in specs if s.name == "regressor"), None)
                inputs = network_inputs(frames(), face_size)

            def report(phase: str, step: int, steps: int, name: str = spec.name, at: int = index) -> None:
                if progress:
                    progress(BuildProgress(name, at, len(specs), phase, step, steps))

            net, checked = build_verified_engine(spec, precision, gpu, inputs, device=device, cache=cache,
                                        progress=report, cancel=cancel)
            parities += checked
        nets[spec.name] = net
    return EngineSet(precision, nets, parities)


def model_networks(checkpoint: Path) -> list[NetworkSpec]:
    """The four networks the pipeline runs for a checkpoint: regressor, PNet, RNet, ONet."""
    return [regressor_network(checkpoint), *mtcnn_networks()]


class BackgroundBuild:
    """Loads or builds engines in a worker thread while the app keeps running on another backend.

    `future` resolves to the EngineSet (or raises the build's error); `on_progress` is called from the build
    threads with BuildProgress, `on_done` with the finished future; `cancel()` stops at TensorRT's next step
    (the future then raises BuildCancelledError).
    """

    def __init__(self, networks: Callable[[], Sequence[NetworkSpec]], precision: str, gpu: Gpu, *,
                 device: torch.device | None = None,
                 frames: Callable[[], Sequence[np.ndarray]] = verification_frames,
                 on_progress: Callable[[BuildProgress], None] | None = None,
                 on_done: Callable[[Future[EngineSet]], None] | None = None):
        self._cancel = threading.Event()
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="painmon-tensorrt-build")
        self.future: Future[EngineSet] = executor.submit(
            lambda: ensure_engines(networks(), precision, gpu, frames=frames, device=device,
                                   progress=on_progress, cancel=self._cancel))
        executor.shutdown(wait=False)
        if on_done:
            self.future.add_done_callback(on_done)

    def cancel(self) -> None:
        """Ask the build to stop."""
        self._cancel.set()


def build_in_background(checkpoint: Path, precision: str = "fp16", *,
                        on_progress: Callable[[BuildProgress], None] | None = None,
                        on_done: Callable[[Future[EngineSet]], None] | None = None) -> BackgroundBuild:
    """Start loading or building a checkpoint's four engines on this machine's GPU in the background.

    Raises BackendUnavailableError at once when TensorRT or a CUDA GPU is missing.
    """
    import_tensorrt()
    gpu = cuda_gpu()
    if gpu is None:
        raise BackendUnavailableError("TensorRT engines are built on a CUDA GPU and torch sees none")
    return BackgroundBuild(lambda: model_networks(Path(checkpoint)), precision, gpu, on_progress=on_progress,
                           on_done=on_done)
