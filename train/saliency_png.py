"""Saliency maps as pictures (paper 002, Fig. 2): `write_saliency_png` and `painmon train saliency`.

The map is the deconvolution group's reconstruction of the model's bottleneck feature map (train.deconv):
bright areas are the parts of the face the bottleneck features embed most. The picture shows the aligned
face, with the AU patches the local loss compares outlined, beside the map as a heat map.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import cv2
import numpy as np
import torch

from engine.align import align_face, template_for
from engine.au import DEFAULT_AUS
from engine.backbone_specs import BACKBONES
from engine.checkpoint import load_checkpoint
from engine.detector import FaceDetector
from engine.errors import PainmonError
from engine.model import PainRegressor
from engine.tracker import choose_patient
from train.deconv import DeconvGroup
from train.loop import to_input
from train.saliency import au_points

MIN_HEIGHT = 224
"""Pictures are scaled up (whole pixels) to at least this height so small crops stay visible."""


@torch.no_grad()
def saliency_map(model: PainRegressor, crop_rgb: np.ndarray) -> np.ndarray:
    """Saliency (h, w) float32 in [0, 1] of one aligned RGB uint8 crop, with the model in eval mode."""
    model.eval()
    device = model.mean.device
    x = (to_input(crop_rgb[None], device) - model.mean) / model.std
    return DeconvGroup(model.backbone).saliency_maps(x)[0].cpu().numpy()


def write_saliency_png(model: PainRegressor, crop_rgb: np.ndarray, path: str | Path,
                       patch: int | None = 11) -> Path:
    """Write face | saliency heat map of an aligned RGB crop as a PNG; `patch` outlines the AU patches
    (None: no outlines). Returns the path."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise PainmonError(f"{path}: the saliency picture is written as PNG; name it *.png")
    height, width = crop_rgb.shape[:2]
    heat = cv2.applyColorMap(np.round(saliency_map(model, crop_rgb) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    face = cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2BGR)
    scale = max(1, math.ceil(MIN_HEIGHT / height))
    face, heat = (cv2.resize(p, (width * scale, height * scale), interpolation=cv2.INTER_NEAREST)
                  for p in (face, heat))
    if patch is not None:
        landmarks = torch.from_numpy(template_for((height, width)))[None]
        points, real = au_points(landmarks, DEFAULT_AUS)
        for point in points[0][real]:
            corner = ((point.round() - patch // 2) * scale).int().tolist()
            cv2.rectangle(face, corner, [c + patch * scale - 1 for c in corner], (255, 255, 255), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.hstack([face, heat])):
        raise PainmonError(f"cannot write {path}")
    return path


def run(args: argparse.Namespace) -> int:
    """`painmon train saliency --model CKPT --image FACE --out MAP.png [--size H W]`."""
    model, card = load_checkpoint(args.model)
    if not isinstance(model, PainRegressor):
        raise PainmonError(f"{args.model} is an AU ensemble; saliency maps need a pain regressor checkpoint")
    size = tuple(args.size) if args.size else model.input_size
    spec = BACKBONES[model.backbone_name]
    if min(size) < 32 or not spec.accepts(size):
        raise PainmonError(f"--size {size[0]} {size[1]}: {spec.name} takes crops of {spec.input_sizes()}, "
                           "saliency maps at least 32 each way")
    if not Path(args.image).is_file():
        raise PainmonError(f"image not found: {args.image}")
    frame = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
    if frame is None:
        raise PainmonError(f"cannot read image {args.image}")
    faces = FaceDetector().detect(frame)
    if not faces:
        raise PainmonError(f"no face found in {args.image}")
    crop = align_face(frame, choose_patient(faces, frame.shape[:2]).landmarks, size)
    patch = card.config.get("saliency", {}).get("patch", 11)
    try:
        out = write_saliency_png(model, crop, args.out, patch)
    except RuntimeError as error:  # the backbone's layers do not fit a crop this small
        h, w = size
        raise PainmonError(f"{model.backbone_name} cannot run on {h}×{w} crops ({error})") from None
    print(f"saliency map of {args.image} written to {out}")
    return 0
