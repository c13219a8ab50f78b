"""Saliency pictures of real faces with the demo model, and `painmon train saliency`."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.align import align_face
from engine.checkpoint import load_checkpoint
from engine.detector import FaceDetector
from engine.errors import PainmonError
from engine.paths import DEMO_MODEL
from tests.helpers import run_painmon, save_random_checkpoint
from train.saliency_png import saliency_map, write_saliency_png


@pytest.fixture(scope="module")
def crop(face_frames: list[np.ndarray], detector: FaceDetector) -> np.ndarray:
    frame = face_frames[0]
    return align_face(frame, detector.detect(frame)[0].landmarks, (112, 96))


def test_the_picture_shows_the_face_beside_its_saliency_heat_map(crop: np.ndarray, tmp_path: Path) -> None:
    model, _ = load_checkpoint(DEMO_MODEL)
    saliency = saliency_map(model, crop)
    assert saliency.shape == (112, 96) and saliency.max() == pytest.approx(1.0) and saliency.min() >= 0

    path = write_saliency_png(model, crop, tmp_path / "maps" / "face.png")
    picture = cv2.imread(str(path))
    assert picture.shape == (224, 2 * 192, 3)  # 112×96 scaled by 2 to reach 224 rows, two panels
    face, heat = picture[:, :192], picture[:, 192:]
    bgr = cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)
    expected_face = cv2.resize(bgr, (192, 224), interpolation=cv2.INTER_NEAREST)
    outlines = np.all(face == 255, axis=2) & np.any(expected_face != 255, axis=2)
    assert 500 < outlines.sum() < 0.25 * outlines.size  # the AU patches are outlined, the face still visible
    np.testing.assert_array_equal(face[~outlines], expected_face[~outlines])
    colours = cv2.applyColorMap(np.round(saliency * 255).astype(np.uint8), cv2.COLORMAP_JET)
    np.testing.assert_array_equal(heat[::2, ::2], colours)

    plain = cv2.imread(str(write_saliency_png(model, crop, tmp_path / "plain.png", patch=None)))
    np.testing.assert_array_equal(plain[:, :192], expected_face)


def test_the_map_depends_on_the_model(crop: np.ndarray, tmp_path: Path) -> None:
    trained, _ = load_checkpoint(DEMO_MODEL)
    random, _ = load_checkpoint(save_random_checkpoint(tmp_path / "random.safetensors"))
    assert np.abs(saliency_map(trained, crop) - saliency_map(random, crop)).mean() > 0.01


def test_only_png_is_written(crop: np.ndarray, tmp_path: Path) -> None:
    model, _ = load_checkpoint(DEMO_MODEL)
    with pytest.raises(PainmonError, match=r"\*\.png"):
        write_saliency_png(model, crop, tmp_path / "map.jpg")


def test_cli_writes_the_map_of_a_photo(clips_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "map.png"
    result = run_painmon("train", "saliency", "--model", DEMO_MODEL, "--image", clips_dir / "single_face.jpg",
                         "--out", out, "--size", 64, 56)
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    assert cv2.imread(str(out)).shape == (256, 2 * 224, 3)  # 64×56 crop scaled by 4, two panels


def test_cli_bad_image_or_no_face_is_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = run_painmon("train", "saliency", "--model", DEMO_MODEL, "--image", tmp_path / "nope.png",
                          "--out", tmp_path / "m.png")
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0
    assert "image not found" in missing.stderr

    wall = tmp_path / "wall.png"
    cv2.imwrite(str(wall), np.full((240, 320, 3), 128, np.uint8))
    faceless = run_painmon("train", "saliency", "--model", DEMO_MODEL, "--image", wall,
                           "--out", tmp_path / "m.png")
    assert faceless.returncode == 2 and f"painmon: error: no face found in {wall}" == faceless.stderr.strip()
    assert not (tmp_path / "m.png").exists()


@pytest.mark.parametrize("size", [(1000, 1000), (20, 20)])
def test_cli_refuses_a_crop_size_the_model_does_not_take(clips_dir: Path, tmp_path: Path,
                                                          size: tuple[int, int]) -> None:
    result = run_painmon("train", "saliency", "--model", DEMO_MODEL, "--image", clips_dir / "single_face.jpg",
                         "--out", tmp_path / "m.png", "--size", *size)
    why = "face_cnn_small takes crops of h 16..224, w 16..192 pixels, saliency maps at least 32 each way"
    assert (result.returncode, result.stderr) == (2, f"painmon: error: --size {size[0]} {size[1]}: {why}\n")
    assert not (tmp_path / "m.png").exists()
