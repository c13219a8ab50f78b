"""The four networks painmon runs as engines, and the fixed inputs each one is verified on.

Each `NetworkSpec` ties a PyTorch FP32 reference to its ONNX exports, its optimisation profile and the range
of its outputs. `network_inputs` cuts every network's input from the same BGR frames the way the pipeline
feeds it: PNet pyramid levels, RNet/ONet crops around the detected faces (and beside them), the faces
aligned (and mirrored) for the regressor. `verification_frames` is the one source of build-time frames.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engine.align import align_face
from engine.detector import FaceDetector
from engine.mtcnn import CROP_SIZE, NETWORKS
from engine.mtcnn_onnx import OUTPUT_NAMES, load_network, mtcnn_onnx
from engine.tensorrt.profiles import ONET, PNET, RNET, Profile, regressor_profile
from engine.types import Face

_PROFILES = {"pnet": PNET, "rnet": RNET, "onet": ONET}
PYRAMID_SCALES = (12 / 20, 12 / 40)  # PNet levels verified: first levels at 20 px and 40 px minimum faces
# Crops around each face as (dx, dy, zoom) of its box: the face, shifted, zoomed, and one mostly beside it.
SHIFTS = ((0.0, 0.0, 1.0), (0.1, 0.0, 1.0), (0.0, -0.1, 1.0), (0.0, 0.0, 0.8), (0.05, 0.05, 1.25),
          (0.6, 0.0, 1.0))


@dataclass(frozen=True)
class NetworkSpec:
    """One network: its PyTorch reference, ONNX exports (by precision), profile and each output's range."""

    name: str
    module: torch.nn.Module
    output_names: tuple[str, ...]
    profile: Profile
    scales: tuple[float | None, ...]  # each output's range (None: its largest magnitude), output_names order
    onnx: Callable[[str], Path]

    def reference(self, x: torch.Tensor) -> dict[str, np.ndarray]:
        """PyTorch FP32 outputs on the CPU, by output name."""
        with torch.inference_mode():
            out = self.module(x.cpu().float())
        out = out if isinstance(out, tuple) else (out,)
        return {name: value.numpy() for name, value in zip(self.output_names, out, strict=True)}


def mtcnn_networks() -> list[NetworkSpec]:
    """PNet, RNet and ONet with facenet-pytorch's weights."""
    return [
        NetworkSpec(name, load_network(name), OUTPUT_NAMES[name], _PROFILES[name],
                    (1.0,) * len(OUTPUT_NAMES[name]),
                    partial(mtcnn_onnx, name))
        for name in NETWORKS
    ]


def regressor_network(checkpoint: Path) -> NetworkSpec:
    """The pain model of a painmon checkpoint: scores 0–5, AU probabilities 0–1 when it has an AU head, and
    the pooled features (compared relative to their largest magnitude)."""
    from engine.checkpoint import load_checkpoint
    from engine.model import ModelOutputs
    from engine.onnx_export import cached_export
    from engine.onnx_fp16 import bake_fp16
    from engine.outputs import output_names

    model, card = load_checkpoint(checkpoint)

    def onnx_path(precision: str) -> Path:
        fp32 = cached_export(checkpoint)
        if precision == "fp32":
            return fp32
        fp16 = fp32.with_name(fp32.stem + ".fp16.onnx")
        return fp16 if fp16.exists() else bake_fp16(fp32, fp16)

    names = output_names(model.aus)
    scales = (model.max_score, 1.0, None) if model.aus else (model.max_score, None)
    return NetworkSpec("regressor", ModelOutputs(model).eval(), names, regressor_profile(card.input_size),
                       scales, onnx_path)


@cache
def _detector() -> FaceDetector:
    return FaceDetector("cpu")


def _faces(frame_bgr: np.ndarray) -> list[Face]:
    """The frame's faces (at most two), or a stand-in box in the middle of the frame when it has none."""
    faces = _detector().detect(frame_bgr, min_face_size=80)[:2]  # bedside faces are large
    if faces:
        return faces
    h, w = frame_bgr.shape[:2]
    box = np.array([w / 2 - h / 6, h / 3, w / 2 + h / 6, 2 * h / 3], np.float32)
    return [Face(box, np.zeros((5, 2), np.float32), 0.0)]


def _crop(frame_rgb: np.ndarray, box: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = frame_rgb.shape[:2]
    x1, y1, x2, y2 = np.round(box).astype(int)
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(max(x2, x1 + 2), w), min(max(y2, y1 + 2), h)
    return cv2.resize(frame_rgb[y1:y2, x1:x2], (size[1], size[0]), interpolation=cv2.INTER_AREA)


def _shifted(box: np.ndarray, dx: float, dy: float, zoom: float) -> np.ndarray:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = max(box[2] - box[0], box[3] - box[1]) * zoom
    cx, cy = cx + dx * side, cy + dy * side
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def _batch(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()


def network_inputs(frames: Sequence[np.ndarray],
                   face_size: Sequence[int] | None = None) -> dict[str, list[torch.Tensor]]:
    """Each network's input batches from BGR frames: MTCNN's inputs normalised as facenet-pytorch does,
    and with a `face_size` (h, w) the regressor's: RGB 0..255 faces."""
    rgb = [cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) for frame in frames]
    pyramid = []
    for image in rgb:
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
        h, w = image.shape[:2]
        for scale in PYRAMID_SCALES:
            level = F.interpolate(x, size=(int(h * scale + 1), int(w * scale + 1)), mode="area")
            pyramid.append((level - 127.5) * 0.0078125)
    faces = [_faces(frame) for frame in frames]
    inputs = {"pnet": pyramid}
    for name, side in CROP_SIZE.items():
        crops = [_crop(image, _shifted(face.box, *shift), (side, side))
                 for image, found in zip(rgb, faces, strict=True) for face in found for shift in SHIFTS]
        inputs[name] = [(_batch(crops) - 127.5) * 0.0078125]
    if face_size is not None:
        size = (int(face_size[0]), int(face_size[1]))
        aligned = [align_face(frame, face.landmarks, size) if face.prob else _crop(image, face.box, size)
                   for frame, image, found in zip(frames, rgb, faces, strict=True)
                   for face in found]  # a stand-in box (prob 0) has no landmarks: it is cropped
        mirrored = [face[:, ::-1] for face in aligned]
        inputs["regressor"] = [_batch((aligned + mirrored)[:16])]
    return inputs


def verification_frames(seed: int = 0, count: int = 4) -> list[np.ndarray]:
    """The frames every new engine is verified on: rendered simulated patients, one per seed from `seed`."""
    from engine.simulated_patient import SimulatedPatient

    frames = []
    for k in range(count):
        patient = SimulatedPatient(seed + k)
        for _ in range(1 + 7 * k):  # a few frames in, so expressions differ between patients
            _, _, frame = patient.read()
        frames.append(frame)
    return frames
