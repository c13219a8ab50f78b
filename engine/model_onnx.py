"""The ONNX graph a runtime scores a checkpoint with, found without torch.

A deployable checkpoint `X.safetensors` ships with `X.onnx` beside it (`painmon train export` and
`train describe` write it; engine.onnx_export makes it). The graph names the checkpoint it was made from in
its metadata (SOURCE_KEY: the checkpoint file's SHA-256, card and weights included; VERSION_KEY: the
export version), so a graph left from an earlier checkpoint at that path is never used. Without a matching
graph beside it, the cached export (made once with torch) is used; a runtime without torch then says what to
run instead.
"""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from engine.errors import ModelFileError
from engine.files import file_sha256

INPUT_NAME = "faces"  # float32 N×3×h×w RGB in 0..255
MAX_BATCH = 64
EXPORT_VERSION = 2
"""Bump when exports change (2: the features output); graphs of older versions are made again."""
SOURCE_KEY = "painmon.checkpoint_sha256"
VERSION_KEY = "painmon.export_version"

log = logging.getLogger(__name__)
_UNREADABLE = (ort_state.Fail, ort_state.InvalidGraph, ort_state.InvalidProtobuf, ort_state.NoSuchFile)

Providers = list[str | tuple[str, dict[str, str]]]


def beside(checkpoint: str | Path) -> Path:
    """Where a checkpoint's own ONNX graph lives: the same name with .onnx."""
    return Path(checkpoint).with_suffix(".onnx")


def source_metadata(checkpoint_sha256: str) -> dict[str, str]:
    """The metadata an export of the checkpoint with this SHA-256 carries."""
    return {SOURCE_KEY: checkpoint_sha256, VERSION_KEY: str(EXPORT_VERSION)}


def open_session(checkpoint: str | Path, options: ort.SessionOptions, providers: Providers
                 ) -> tuple[ort.InferenceSession, Path]:
    """An ONNX Runtime session of the checkpoint's graph and the graph's path: the one beside it when it was
    made from this very file, else the cached export (made with torch when missing). ModelFileError when
    neither exists and torch is not installed to make one."""
    wanted = source_metadata(file_sha256(checkpoint))
    path = beside(checkpoint)
    if path.is_file():
        try:
            session = _session(path, options, providers)
        except ModelFileError as error:
            log.warning("%s; using a fresh export instead", error)
        else:
            if {key: session.get_modelmeta().custom_metadata_map.get(key) for key in wanted} == wanted:
                return session, path
            log.warning("%s was not made from %s as it is now; using a fresh export instead", path,
                        checkpoint)
    try:
        from engine.onnx_export import cached_export
    except ModuleNotFoundError as error:
        raise ModelFileError(
            f"{checkpoint} has no ONNX graph beside it ({path.name}) and PyTorch ({error.name}) is not "
            "installed to make one: run `painmon engine onnx MODEL` where painmon[train] is installed, "
            "and keep the .onnx next to the model") from None
    path = cached_export(checkpoint)
    return _session(path, options, providers), path


def _session(path: Path, options: ort.SessionOptions, providers: Providers) -> ort.InferenceSession:
    """A session of one graph; ModelFileError naming it when ONNX Runtime cannot read it."""
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except _UNREADABLE as error:
        raise ModelFileError(f"{path} is not a readable ONNX graph: {str(error).splitlines()[0]}") from error
