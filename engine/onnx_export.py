"""ONNX export of a pain model with a dynamic batch axis, as one self-contained .onnx file.

Outputs (engine.outputs): "scores" (N,), for a model with an AU head also "aus" (N, K) probabilities, and
"features" (N, D), all with the input's batch axis.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import onnx
import torch

from engine.checkpoint import PainModel, load_checkpoint
from engine.files import file_sha256, replacing, write_atomically
from engine.model import ModelOutputs
from engine.model_onnx import EXPORT_VERSION, INPUT_NAME, MAX_BATCH, beside, source_metadata
from engine.outputs import output_names
from engine.paths import cache_dir

OPSET = 20

log = logging.getLogger(__name__)


def export_model(model: PainModel, path: Path, max_batch: int = MAX_BATCH,
                 metadata: dict[str, str] | None = None) -> Path:
    """Export `model` (in eval mode) to `path` for batches of 1..max_batch, with `metadata` in the graph's
    metadata; return the path.

    Weights are embedded in the file (no .onnx.data beside it), so the file alone is the model and its
    hash identifies it. The file is written atomically and checked with onnx.checker.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    example = torch.rand(2, 3, *model.input_size, device=device) * 255  # batch ≥ 2, or N is fixed at 1
    batch = torch.export.Dim("batch", min=1, max=max_batch)
    try:
        with replacing(path) as scratch:
            torch.onnx.export(
                ModelOutputs(model).eval(),
                (example,),
                scratch,
                input_names=[INPUT_NAME],
                output_names=list(output_names(model.aus)),
                opset_version=OPSET,
                dynamo=True,
                verbose=False,
                external_data=False,
                dynamic_shapes={"x": {0: batch}},
            )
            if metadata:
                graph = onnx.load(scratch)
                onnx.helper.set_model_props(graph, metadata)
                onnx.save(graph, scratch)
            onnx.checker.check_model(scratch, full_check=True)
    finally:
        model.train(was_training)
    return path


def cached_export(checkpoint: str | Path) -> Path:
    """The ONNX export of a checkpoint (batch up to MAX_BATCH), made once and cached.

    Cached under engine.paths.cache_dir("onnx"), named by the checkpoint's SHA-256 and EXPORT_VERSION, so a
    retrained file at the same path, or a newer painmon, gets a fresh export. The export's own SHA-256 is
    kept beside it (`<name>.sha256`): an export that no longer has it (damaged or changed on disk) is made
    again, as is one without it.
    """
    digest = file_sha256(checkpoint)
    path = cache_dir("onnx") / f"{digest}-v{EXPORT_VERSION}.onnx"
    recorded = path.with_name(path.name + ".sha256")
    if path.is_file():
        expected = _recorded_hash(recorded)
        if expected == file_sha256(path):
            return path
        if expected is not None:
            log.warning("the cached ONNX export %s is damaged (not its recorded hash); exporting again", path)
    log.info("exporting %s to ONNX (once per model file): %s", checkpoint, path)
    model, _ = load_checkpoint(checkpoint)
    export_model(model, path, metadata=source_metadata(digest))
    write_atomically(recorded, file_sha256(path))
    return path


def write_beside(checkpoint: str | Path) -> Path:
    """Write the checkpoint's ONNX graph beside it (engine.model_onnx.beside), naming the checkpoint in its
    metadata, so that a runtime without torch scores it; return the graph's path."""
    model, _ = load_checkpoint(checkpoint)
    return export_model(model, beside(checkpoint), metadata=source_metadata(file_sha256(checkpoint)))


def _recorded_hash(path: Path) -> str | None:
    """The hash kept beside an export, None when it is missing or unreadable."""
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def run(args: argparse.Namespace) -> int:
    """`painmon engine onnx MODEL`: write MODEL's graph beside it and say where."""
    print(f"wrote {write_beside(args.model)}")
    return 0
