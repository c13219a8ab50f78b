"""ONNX export of facenet-pytorch's MTCNN networks (bundled weights), FP32 and FP16-baked.

Each ONNX graph is the PyTorch network exactly: it takes the same normalised input facenet-pytorch's
`detect_face` feeds it ((RGB − 127.5) / 128, N×3×H×W) and returns the same outputs in the same order, so an
engine built from it can stand in for `MTCNN.pnet` / `.rnet` / `.onet` while the pyramid, box decoding and
NMS stay in facenet-pytorch's vectorised torch code. PNet has dynamic height and width; all three have a
dynamic batch. Each file holds its weights (no .data beside it).

`python -m engine.mtcnn_onnx FOLDER` writes the FP32 pnet.onnx, rnet.onnx and onet.onnx that painmon ships
in assets/mtcnn for engine.mtcnn, the detector that needs no torch.
"""

from __future__ import annotations

import argparse
from importlib.metadata import version
from pathlib import Path
from typing import Literal

import torch
from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

from engine.mtcnn import CROP_SIZE, NETWORKS, Network
from engine.onnx_files import write_model_atomically
from engine.onnx_fp16 import bake_fp16
from engine.paths import cache_dir

Precision = Literal["fp32", "fp16"]
INPUT_NAME = "image"
OUTPUT_NAMES: dict[Network, tuple[str, ...]] = {
    "pnet": ("box_regression", "face_prob"),
    "rnet": ("box_regression", "face_prob"),
    "onet": ("box_regression", "landmarks", "face_prob"),
}
_CLASSES = {"pnet": PNet, "rnet": RNet, "onet": ONet}
_EXPORT_MAX = 4096  # bound of the exported dynamic dimensions; engine profiles are far tighter


def load_network(name: Network) -> torch.nn.Module:
    """The PyTorch network with facenet-pytorch's bundled weights, in eval mode."""
    return _CLASSES[name](pretrained=True).eval()


def export_network(name: Network, path: Path) -> Path:
    """Export the FP32 network to `path`, weights included; return `path`."""
    net = load_network(name)
    batch = torch.export.Dim("batch", min=1, max=_EXPORT_MAX)
    if name == "pnet":
        example = torch.zeros(2, 3, 40, 56)
        dims = {0: batch, 2: torch.export.Dim("height", min=12, max=_EXPORT_MAX),
                3: torch.export.Dim("width", min=12, max=_EXPORT_MAX)}
    else:
        example = torch.zeros(2, 3, CROP_SIZE[name], CROP_SIZE[name])
        dims = {0: batch}

    def write(target: Path) -> None:
        torch.onnx.export(net, (example,), target, input_names=[INPUT_NAME],
                          output_names=list(OUTPUT_NAMES[name]), dynamic_shapes={"x": dims}, dynamo=True,
                          external_data=False, verbose=False)

    return write_model_atomically(path, write)


def mtcnn_onnx(name: Network, precision: Precision) -> Path:
    """Path of the cached ONNX export of one MTCNN network, exporting it on first use."""
    folder = cache_dir("onnx", f"mtcnn-facenet-{version('facenet-pytorch')}")
    fp32 = folder / f"{name}.fp32.onnx"
    if not fp32.exists():
        export_network(name, fp32)
    if precision == "fp32":
        return fp32
    fp16 = folder / f"{name}.fp16.onnx"
    return fp16 if fp16.exists() else bake_fp16(fp32, fp16)


def main(argv: list[str] | None = None) -> None:
    """Write the FP32 networks into a folder (assets/mtcnn for the shipped ones)."""
    parser = argparse.ArgumentParser(description="Export MTCNN's PNet, RNet and ONet to FP32 ONNX files.")
    parser.add_argument("folder", type=Path, help="where pnet.onnx, rnet.onnx and onet.onnx go")
    folder = parser.parse_args(argv).folder
    for name in NETWORKS:
        path = export_network(name, folder / f"{name}.onnx")
        print(f"{path}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
