"""Fixtures of the app tests: a short real clip for replay's analysis, and the main window over a live
monitor."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import pytest

from app.beds import BedConfig, save_beds
from app.main_window import MainWindow
from app.monitor import Monitor
from tests.helpers import CLIP_FRAMES, read_frames


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
def open_window(qtbot) -> Iterator[Callable[..., MainWindow]]:
    """Opens the main window over a fresh monitor (with `beds` as the saved ward, or what the data folder
    holds); closes it (stopping the monitor's threads) after the test."""
    opened: list[MainWindow] = []

    def open_(beds: list[BedConfig] | None = None) -> MainWindow:
        if beds is not None:
            save_beds(beds)
        window = MainWindow(Monitor(retry_s=0.5))
        window.show()
        opened.append(window)
        return window

    yield open_
    for window in opened:
        window.close()
