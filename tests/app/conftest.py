"""Fixtures of the app tests: a short real clip for replay's analysis, the demo model as the monitor's model
(its ONNX export made once per module), and the main window over a live monitor."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import pytest

from app.beds import BedConfig, save_beds
from app.main_window import MainWindow
from app.monitor import Monitor
from app.settings import MonitorSettings, save_settings
from engine.paths import DEMO_MODEL
from tests.helpers import CLIP_FRAMES, ROOT, painmon_command, read_frames


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, clips_dir: Path) -> Path:
    """The first 20 frames of the real single_face.mp4 (640×360, 30 fps), kept short for a fast analysis."""
    path = tmp_path_factory.mktemp("clip") / "single_face_start.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 360))
    for frame in read_frames(clips_dir / "single_face.mp4", CLIP_FRAMES):
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture
def model_file() -> Path:
    """The demo model, set as the monitor's model on ONNX Runtime (its graph ships beside it)."""
    save_settings(MonitorSettings(model_path=str(DEMO_MODEL), backend="onnx", device="cpu", audible=True))
    return DEMO_MODEL


@pytest.fixture
def no_model(tmp_path: Path) -> None:
    """No model at all: settings naming a model file that is not there, and (for `open_window`) no bundled
    demo model to fall back on. The beds show video and every frame is a sample, which is all many tests
    need (a module asks for it with `pytestmark = pytest.mark.usefixtures("no_model")`)."""
    save_settings(MonitorSettings(model_path=str(tmp_path / "none.safetensors")))


@pytest.fixture
def open_window(qtbot, request: pytest.FixtureRequest) -> Iterator[Callable[..., MainWindow]]:
    """Opens the main window over a fresh monitor (with `beds` as the saved ward, or what the data folder
    holds; `monitor_args` for `Monitor`, e.g. fallback_model, None by default under `no_model`); closes it
    without asking (stopping the monitor's threads) after the test."""
    opened: list[MainWindow] = []
    defaults = {"fallback_model": None} if "no_model" in request.fixturenames else {}

    def open_(beds: list[BedConfig] | None = None, **monitor_args: object) -> MainWindow:
        if beds is not None:
            save_beds(beds)
        window = MainWindow(Monitor(retry_s=0.5, **{**defaults, **monitor_args}))  # type: ignore[arg-type]
        window.show()
        opened.append(window)
        return window

    yield open_
    for window in opened:
        window.close_without_asking()


# -- the app in a subprocess ---------------------------------------------------------------------------
@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Starts `painmon` (the monitor, offscreen, on this test's data folder, in the environment `env`: this
    process's by default; its messages in tmp_path/stderr.txt); kills what is left after."""
    started: list[subprocess.Popen[bytes]] = []

    def launch_(env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        env = {**(env or os.environ), "QT_QPA_PLATFORM": "offscreen"}
        with (tmp_path / "stderr.txt").open("wb") as stderr:
            started.append(subprocess.Popen(painmon_command(), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                            stderr=stderr))
        return started[-1]

    yield launch_
    for app in started:
        if app.poll() is None:
            app.kill()
            app.wait(30)
