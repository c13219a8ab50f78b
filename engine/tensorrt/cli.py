"""`painmon engine build|verify|info`: TensorRT engines for a model, backend parity, what this machine has."""

from __future__ import annotations

import argparse
import copy
from functools import partial
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from tqdm import tqdm

from engine.errors import BackendUnavailableError
from engine.tensorrt import import_tensorrt
from engine.tensorrt.cache import PlanCache
from engine.tensorrt.engines import BuildProgress, cached_engine, ensure_engines, model_networks
from engine.tensorrt.gpu import cuda_gpu
from engine.tensorrt.networks import NetworkSpec, network_inputs, verification_frames
from engine.tensorrt.runtime import TensorRTNet
from engine.tensorrt.verify import Outputs, Parity, Runner, measure, onnxruntime_runner

PRECISIONS = ("fp32", "fp16")


def build(args: argparse.Namespace) -> int:
    """Build (or reuse) and verify the four engines of a model at one precision."""
    import_tensorrt()
    gpu = cuda_gpu()
    if gpu is None:
        raise BackendUnavailableError("TensorRT engines are built on a CUDA GPU and torch sees none")
    specs = model_networks(Path(args.model))
    with tqdm(total=len(specs), desc=f"TensorRT {args.precision}", unit="engine") as bar:
        def progress(state: BuildProgress) -> None:
            bar.n = state.index + (state.step / state.steps if state.steps else 0)
            bar.set_postfix_str(f"{state.network}: {state.phase}", refresh=True)

        engines = ensure_engines(specs, args.precision, gpu, progress=progress)
        bar.n = len(specs)
    for parity in engines.parities:
        print(parity.line())
    built = {p.network for p in engines.parities}
    for spec in specs:
        state = "built and verified" if spec.name in built else "cached (verified when built)"
        print(f"{spec.name}: {state}")
    print(f"plans in {PlanCache().root}")
    return 0


def _torch_cuda(spec: NetworkSpec, half: bool) -> Runner:
    """PyTorch on CUDA as the torch backend runs it (FP16 through autocast)."""
    module = copy.deepcopy(spec.module).to("cuda")

    def run(x: torch.Tensor) -> Outputs:
        with torch.inference_mode(), torch.autocast("cuda", torch.float16, enabled=half):
            out = module(x.to("cuda"))
        out = out if isinstance(out, tuple) else (out,)
        return {name: value.float().cpu().numpy() for name, value in zip(spec.output_names, out, strict=True)}

    return run


def _engine_outputs(net: TensorRTNet, x: torch.Tensor) -> dict[str, np.ndarray]:
    """A TensorRT engine's outputs as float32 numpy arrays, like the other runners'."""
    return {k: v.float().cpu().numpy() for k, v in net(x).items()}


def verify(args: argparse.Namespace) -> int:
    """Parity with PyTorch FP32 (CPU) of every backend this machine has, on the verification frames."""
    specs = model_networks(Path(args.model))
    inputs = network_inputs(verification_frames(), specs[0].profile.max[2:])
    gpu = cuda_gpu()
    try:
        import_tensorrt()
        has_trt = gpu is not None
    except BackendUnavailableError as exc:
        has_trt = False
        print(f"TensorRT: {exc}")
    parities: list[Parity] = []
    missing = []
    for spec in tqdm(specs, desc="verify", unit="network"):
        batches = inputs[spec.name]
        reference = [spec.reference(x) for x in batches]
        for precision in PRECISIONS:
            runners = [("onnxruntime", onnxruntime_runner(spec.onnx(precision)))]
            if gpu is not None:
                runners.append(("torch-cuda", _torch_cuda(spec, half=precision == "fp16")))
            if has_trt and gpu is not None:
                net = cached_engine(spec, precision, gpu)
                if net is None:
                    missing.append(f"{spec.name} {precision}")
                else:
                    runners.append(("tensorrt", partial(_engine_outputs, net)))
            for backend, run in runners:
                parities += measure(spec, run, batches, reference, backend=backend, precision=precision)
    for parity in parities:
        print(parity.line())
    if missing:
        print(f"TensorRT engines not built yet: {', '.join(missing)} (painmon engine build MODEL)")
    failed = sum(not p.ok for p in parities)
    print(f"{len(parities) - failed} of {len(parities)} within tolerance")
    return 1 if failed else 0


def info(args: argparse.Namespace) -> int:
    """What this machine offers: GPU and CUDA, TensorRT, ONNX Runtime, what `auto` picks, cached plans."""
    from engine.backends.select import tensorrt_unavailable

    gpu = cuda_gpu()
    cuda = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
    print(f"GPU:          {f'{gpu.name} (compute capability {gpu.compute_capability})' if gpu else 'none'}"
          f" — torch {torch.__version__}, {cuda}")
    reason = tensorrt_unavailable()
    print(f"TensorRT:     {reason or f'{import_tensorrt().__version__}, usable'}")
    print(f"ONNX Runtime: {ort.__version__} ({', '.join(ort.get_available_providers())})")
    fallback = "PyTorch on cuda:0" if gpu else "ONNX Runtime on the CPU"
    first = "" if reason else "TensorRT for models with built engines, else "
    print(f"auto backend: {first}{fallback}")
    cache = PlanCache()
    plans = cache.entries()
    print(f"plans:        {len(plans)} in {cache.root}")
    for plan in plans:
        print(f"  {plan['network']:<9} {plan['precision']}  {plan['gpu_name']} "
              f"(sm {plan['compute_capability']})  TensorRT {plan['tensorrt_version']}  "
              f"built {plan.get('built', '?')}  {plan['plan']}")
    return 0
