"""Where painmon keeps its files: caches (ONNX exports, TensorRT plans) and user data (beds, records).

PAINMON_CACHE_DIR and PAINMON_DATA_DIR override the platform defaults (tests point them at tmp dirs).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

ASSETS = Path(__file__).resolve().parent.parent / "assets"
"""Files shipped with painmon, beside its packages."""
DEMO_MODEL = ASSETS / "demo_model.safetensors"
"""The model shipped with painmon (trained on the synthetic twin; its card says: not for clinical use)."""
MTCNN_DIR = ASSETS / "mtcnn"
"""facenet-pytorch's MTCNN networks as ONNX (pnet.onnx, rnet.onnx, onet.onnx), for engine.mtcnn."""


def cache_dir(*parts: str) -> Path:
    """Return (and create) a folder under painmon's cache directory."""
    root = os.environ.get("PAINMON_CACHE_DIR") or platformdirs.user_cache_dir("painmon")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir(*parts: str) -> Path:
    """Return (and create) a folder under painmon's user data directory. The data names patients: the
    folders created here are readable by their owner only (0700)."""
    root = Path(os.environ.get("PAINMON_DATA_DIR") or platformdirs.user_data_dir("painmon"))
    path = root.joinpath(*parts)
    for folder in (root, path):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
