"""Serialized TensorRT plans on disk, keyed by everything that decides whether a plan loads and is right.

A plan only loads on the TensorRT version and GPU model it was built with (FACTS.md §6), and it is only the
right plan for one ONNX model (graph and external data), precision and optimisation profile; all of these
are in the key. Each `<network>-<precision>-<digest>.plan` has a `.json` beside it with the key fields, the
verification numbers and when it was built. Writes are atomic: a reader sees the old file or the new one.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine.files import write_atomically
from engine.paths import cache_dir
from engine.tensorrt.gpu import Gpu
from engine.tensorrt.profiles import Profile


@dataclass(frozen=True)
class PlanKey:
    """Identity of one plan."""

    network: str
    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    precision: str
    profile: Profile

    def fields(self) -> dict[str, Any]:
        """The key as plain JSON-ready fields."""
        data = asdict(self)
        data["profile"] = self.profile.as_dict()
        return data

    def digest(self) -> str:
        """Short hash of all key fields; part of the plan's file name."""
        return hashlib.sha256(json.dumps(self.fields(), sort_keys=True).encode()).hexdigest()[:20]


class PlanCache:
    """The plans and per-GPU timing caches under painmon's cache folder (or `root`)."""

    def __init__(self, root: Path | None = None):
        self.root = root if root is not None else cache_dir("tensorrt")

    def plan_path(self, key: PlanKey) -> Path:
        """Where the plan for `key` lives (whether or not it exists)."""
        return self.root / f"{key.network}-{key.precision}-{key.digest()}.plan"

    def load(self, key: PlanKey) -> bytes | None:
        """The cached plan bytes for `key`, or None."""
        path = self.plan_path(key)
        return path.read_bytes() if path.is_file() else None

    def store(self, key: PlanKey, plan: bytes, details: dict[str, Any]) -> Path:
        """Save a plan and its metadata JSON (key fields plus `details`); return the plan's path."""
        path = self.plan_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, plan)
        meta = {**key.fields(), **details, "plan": path.name, "plan_bytes": len(plan)}
        write_atomically(path.with_suffix(".json"), json.dumps(meta, indent=2, sort_keys=True))
        return path

    def discard(self, key: PlanKey) -> None:
        """Remove a plan (and its metadata), e.g. one TensorRT can no longer deserialize."""
        path = self.plan_path(key)
        path.with_suffix(".json").unlink(missing_ok=True)
        path.unlink(missing_ok=True)

    def entries(self) -> list[dict[str, Any]]:
        """Metadata of every cached plan that is present, sorted by file name."""
        found = []
        for meta in sorted(self.root.glob("*.json")):
            data = json.loads(meta.read_text())
            if (self.root / data.get("plan", "")).is_file():
                found.append(data)
        return found

    def timing_cache_path(self, tensorrt_version: str, gpu: Gpu) -> Path:
        """The timing cache shared by every build on one GPU model with one TensorRT version."""
        slug = re.sub(r"[^A-Za-z0-9.]+", "-", gpu.name).strip("-")
        return self.root / "timing" / f"{slug}-sm{gpu.compute_capability}-trt{tensorrt_version}.cache"
