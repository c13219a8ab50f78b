"""Parity of a backend's outputs with PyTorch FP32 on fixed inputs, and refusal beyond the tolerances.

Tolerances (FACTS.md §6) apply to outputs divided by their range (the 0–5 score by 5, AU probabilities
and MTCNN's outputs as they are, the pooled features by their largest magnitude in the reference): FP32 max
and mean |Δ| ≤ 1e-4; FP16 max |Δ| ≤ 1e-2 and mean |Δ| ≤ 1e-3.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from engine.tensorrt import EngineVerificationError
from engine.tensorrt.networks import NetworkSpec

Outputs = dict[str, np.ndarray]
Runner = Callable[[torch.Tensor], Outputs]


@dataclass(frozen=True)
class Tolerance:
    """Largest acceptable max and mean absolute difference on range-normalised outputs."""

    max_abs: float
    mean_abs: float


TOLERANCES = {"fp32": Tolerance(1e-4, 1e-4), "fp16": Tolerance(1e-2, 1e-3)}


@dataclass(frozen=True)
class Parity:
    """How far one output of one network on one backend is from PyTorch FP32."""

    network: str
    output: str
    backend: str
    precision: str
    max_abs: float
    mean_abs: float
    values: int

    @property
    def tolerance(self) -> Tolerance:
        return TOLERANCES[self.precision]

    @property
    def ok(self) -> bool:
        return self.max_abs <= self.tolerance.max_abs and self.mean_abs <= self.tolerance.mean_abs

    def line(self) -> str:
        """One aligned report line."""
        tol = self.tolerance
        return (f"{self.network:<9} {self.output:<15} {self.backend:<11} {self.precision}  "
                f"max|Δ| {self.max_abs:.1e} (≤ {tol.max_abs:.0e})  mean|Δ| {self.mean_abs:.1e} "
                f"(≤ {tol.mean_abs:.0e})  n={self.values}  {'ok' if self.ok else 'FAIL'}")

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ok": self.ok}


def compare(spec: NetworkSpec, backend: str, precision: str, reference: Sequence[Outputs],
            candidate: Sequence[Outputs]) -> list[Parity]:
    """Parity of every output of `spec` over all runs (each run: one input batch)."""
    parities = []
    for name, scale in zip(spec.output_names, spec.scales, strict=True):
        largest = max(float(np.abs(want[name]).max(initial=0.0)) for want in reference) or 1.0
        delta = np.concatenate([
            np.abs(np.asarray(got[name], np.float64) - np.asarray(want[name], np.float64)).ravel()
            for want, got in zip(reference, candidate, strict=True)
        ]) / (largest if scale is None else scale)
        parities.append(Parity(spec.name, name, backend, precision, float(delta.max()), float(delta.mean()),
                               delta.size))
    return parities


def measure(spec: NetworkSpec, run: Runner, inputs: Sequence[torch.Tensor], reference: Sequence[Outputs], *,
            backend: str, precision: str) -> list[Parity]:
    """Run `run` on each input and compare with the PyTorch `reference` outputs of the same inputs."""
    return compare(spec, backend, precision, reference, [run(x) for x in inputs])


def refuse_if_off(parities: Sequence[Parity], what: str) -> None:
    """Raise EngineVerificationError, with the numbers, if any parity is beyond its tolerance."""
    failed = [p for p in parities if not p.ok]
    if failed:
        raise EngineVerificationError(f"{what} refused, disagrees with PyTorch: "
                                      + "; ".join(" ".join(p.line().split()) for p in failed))


def onnxruntime_runner(path: Path) -> Runner:
    """ONNX Runtime (CPU) on an ONNX file, as a runner."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0].name
    names = [o.name for o in session.get_outputs()]

    def run(x: torch.Tensor) -> Outputs:
        return dict(zip(names, session.run(names, {feed: x.cpu().numpy()}), strict=True))

    return run
