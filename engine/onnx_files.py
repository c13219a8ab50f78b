"""ONNX models on disk: the files one model consists of (graph + external data), their hash, atomic writes."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path

import onnx
from onnx.external_data_helper import ExternalDataInfo, uses_external_data

from engine.files import fsync, update_sha256


def model_files(path: Path) -> list[Path]:
    """The .onnx file followed by every external data file it references (sorted, each once)."""
    model = onnx.load(path, load_external_data=False)
    locations = {
        ExternalDataInfo(tensor).location
        for tensor in model.graph.initializer
        if uses_external_data(tensor)
    }
    return [path, *(path.parent / location for location in sorted(locations))]


def model_sha256(path: Path) -> str:
    """SHA-256 over the ONNX graph and its external data, so a weights change changes the hash."""
    digest = hashlib.sha256()
    for file in model_files(path):
        digest.update(file.name.encode())
        update_sha256(digest, file)
    return digest.hexdigest()


def write_model_atomically(dst: Path, write: Callable[[Path], None]) -> Path:
    """Run `write(path)` into a scratch folder beside `dst`, then move the model's files into place.

    The files are synced before they move; external data is moved before the graph that references it, so
    a reader never sees a graph whose weights are missing; a crash mid-write leaves the previous model (or
    none), never a torn one. (One file alone goes through engine.files.replacing.)
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dst.parent, prefix=".onnx-") as scratch:
        staged = Path(scratch) / dst.name
        write(staged)
        files = model_files(staged)
        for file in [*files[1:], files[0]]:
            fsync(file)
            file.replace(dst.parent / file.name)
    fsync(dst.parent)
    return dst
