"""The SGD training loop of the papers' regression, and prediction.

The loop follows the papers' solver (FACTS.md §4): SGD, lr 1e-4, momentum 0.9, weight decay 5e-4, batch 64,
5,000 iterations, random mirroring. It runs on the CPU or on CUDA with automatic mixed precision, and is
deterministic for a given seed: each iteration reseeds torch from (seed, iteration) and the samplers are pure
functions of the seed, so a run resumed from a snapshot continues exactly where the killed one stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from engine.errors import PainmonError
from engine.files import replacing
from engine.model import PainRegressor
from train.config import SamplingConfig, SolverConfig, TrainConfig
from train.losses import PainLoss
from train.sampling import batches, eliminate_redundant, shuffled_stream, uniform_class_stream

ImageReader = Callable[[np.ndarray], np.ndarray]
"""Returns the aligned RGB uint8 crops (B, h, w, 3) of the given row numbers."""


def training_rows(
    rows: np.ndarray, levels: np.ndarray, sequences: np.ndarray, sampling: SamplingConfig
) -> np.ndarray:
    """Rows (in temporal order) that training draws from, after redundant-frame elimination if enabled."""
    if not sampling.eliminate_redundant:
        return rows
    return rows[eliminate_redundant(sequences, levels, sampling.max_run)]


def sgd_optimizer(modules: Sequence[nn.Module], solver: SolverConfig) -> torch.optim.SGD:
    """SGD over the trainable parameters of `modules`: weight decay on weight matrices and centers, none on
    biases and per-channel parameters."""
    params = [p for module in modules for p in module.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim > 1], "weight_decay": solver.weight_decay},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]
    return torch.optim.SGD(groups, lr=solver.lr, momentum=solver.momentum)


def _no_scaling() -> torch.amp.GradScaler:
    return torch.amp.GradScaler(enabled=False)


@dataclass
class TrainState:
    """Everything a resumed run needs — named modules' weights, named optimizers' momenta, the mixed-precision
    scaler and the iteration count — stored as one safetensors file (no pickle)."""

    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.SGD]
    scaler: torch.amp.GradScaler = field(default_factory=_no_scaling)

    def save(self, path: Path, iteration: int) -> None:
        """Write the snapshot atomically."""
        tensors = {f"{name}.{k}": v for name, module in self.modules.items()
                   for k, v in module.state_dict().items()}
        for name, optimizer in self.optimizers.items():
            for index, state in optimizer.state_dict()["state"].items():
                tensors[f"optim.{name}.{index}"] = state["momentum_buffer"]
        tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
        meta = {"iteration": str(iteration), "scaler": json.dumps(self.scaler.state_dict())}
        with replacing(path) as scratch:
            save_file(tensors, str(scratch), metadata=meta)

    def load(self, path: Path) -> int:
        """Restore from `path`; returns the number of iterations already done."""
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
        tensors = load_file(str(path))

        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        for name, module in self.modules.items():
            module.load_state_dict(part(f"{name}."))
        for name, optimizer in self.optimizers.items():
            state = optimizer.state_dict()
            state["state"] = {int(k): {"momentum_buffer": v} for k, v in part(f"optim.{name}.").items()}
            optimizer.load_state_dict(state)
        scaler_state = json.loads(meta["scaler"])
        if scaler_state:
            self.scaler.load_state_dict(scaler_state)
        return int(meta["iteration"])


def to_input(crops: np.ndarray, device: torch.device) -> torch.Tensor:
    """RGB uint8 (B, h, w, 3) → float32 (B, 3, h, w) in 0..255 on `device` (the model normalises inside)."""
    x = torch.from_numpy(crops).to(device, non_blocking=True)
    return x.permute(0, 3, 1, 2).float()


Batch = tuple[torch.Tensor, torch.Tensor]


def training_batch(crops: np.ndarray, device: torch.device, mirror: bool) -> Batch:
    """Model input of a training batch, each face mirrored with probability ½ if `mirror`; and which were."""
    x = to_input(crops, device)
    if not mirror:
        return x, torch.zeros(len(x), dtype=torch.bool, device=device)
    flip = torch.rand(len(x), device=device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x), flip


def sgd_step(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, loss: torch.Tensor, *,
             iteration: int, remedy: str) -> float:
    """One (mixed-precision scaled) step on `loss`; returns its value. A non-finite loss is a PainmonError
    that names the iteration and `remedy` (the setting to lower)."""
    value = float(loss.detach())
    if not np.isfinite(value):
        raise PainmonError(f"training diverged at iteration {iteration} (loss {value}): lower {remedy}")
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return value


def fit(
    model: PainRegressor,
    config: TrainConfig,
    images: ImageReader,
    rows: np.ndarray,
    levels: np.ndarray,
    *,
    device: torch.device,
    iterations: int | None = None,
    snapshot: Path | None = None,
    progress: str | None = "train",
) -> dict[str, float]:
    """Train `model` in place on `rows` (already filtered by `training_rows`) with their pain `levels`.

    `model` must offer `forward_with_embedding(x) -> (scores, embedding)`. With `snapshot`, the state is
    saved there every `solver.snapshot_every` iterations and training resumes from it if it exists; the file
    is removed when training completes. Returns the last iteration's loss parts.
    """
    solver = config.solver
    iterations = iterations or solver.iterations
    levels = np.asarray(levels, dtype=np.int64)
    model.to(device).train()
    loss_fn = PainLoss(config.loss, config.model.embed_dim).to(device)
    optimizer = sgd_optimizer([model, loss_fn], solver)
    cuda = device.type == "cuda"
    state = TrainState({"model": model, "loss": loss_fn}, {"sgd": optimizer},
                       torch.amp.GradScaler("cuda", enabled=cuda))
    start = state.load(snapshot) if snapshot is not None and snapshot.exists() else 0
    positions = (uniform_class_stream(levels, solver.seed) if config.sampling.uniform_classes
                 else shuffled_stream(len(rows), solver.seed))
    stream = batches(positions, solver.batch_size, skip=start)
    parts: dict[str, float] = {}
    bar = tqdm(range(start, iterations), initial=start, total=iterations, desc=progress,
               disable=progress is None, leave=False, dynamic_ncols=True)
    for it in bar:
        torch.manual_seed(solver.seed * 1_000_003 + it)
        pick = next(stream)
        y = torch.from_numpy(levels[pick]).to(device)
        x, _ = training_batch(images(rows[pick]), device, solver.mirror)
        with torch.autocast(device.type, dtype=torch.float16, enabled=cuda):
            scores, embedding = model.forward_with_embedding(x)
        loss, parts = loss_fn(scores, embedding, y)
        value = sgd_step(optimizer, state.scaler, loss, iteration=it, remedy="solver.lr")
        if it % 10 == 0:
            bar.set_postfix(loss=f"{value:.3f}")
        if snapshot is not None and (it + 1) % solver.snapshot_every == 0 and it + 1 < iterations:
            state.save(snapshot, it + 1)
    bar.close()
    model.eval()
    if snapshot is not None:
        snapshot.unlink(missing_ok=True)
    return parts


@torch.no_grad()
def predict(model: nn.Module, images: ImageReader, rows: np.ndarray, *, device: torch.device,
            batch_size: int = 256) -> np.ndarray:
    """Scores (0–5, float32) of the given rows, in order, with the model in eval mode and no mirroring."""
    model.to(device).eval()
    out = np.empty(len(rows), dtype=np.float32)
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        with torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
            scores = model(to_input(images(chunk), device))
        out[start:start + len(chunk)] = scores.float().cpu().numpy()
    return out


def resolve_device(name: str | None) -> torch.device:
    """`cpu`, `cuda`, `cuda:N`, or None for CUDA when available; an unavailable device is a clear error."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise PainmonError(f"unknown device {name!r} (use cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PainmonError(f"device {name!r} requested but CUDA is not available on this machine")
    if device.type not in ("cpu", "cuda"):
        raise PainmonError(f"unsupported device {name!r} (use cpu, cuda or cuda:N)")
    return device
