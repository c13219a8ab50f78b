"""Fixtures of the app tests: a short real clip for replay's analysis."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

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
