"""Alignment cache on real face frames: crops, the no-face report, resumption and invalidation."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.align import similarity_transform, template_for
from engine.detector import FaceDetector
from engine.errors import PainmonError
from tests.helpers import read_frames
from train.align_cache import AlignSettings, build_cache

SIZE = (56, 48)
SETTINGS = AlignSettings(SIZE, min_face_size=80)  # the clips' faces are large; a coarser pyramid is faster


@dataclass(frozen=True)
class Record:
    subject: str
    sequence: str
    frame: int
    image: Path


@pytest.fixture
def frames(tmp_path: Path, face_frames: list[np.ndarray], clips_dir: Path) -> list[Record]:
    """Two sequences of real face frames and one whose last two frames show no face."""
    empty = read_frames(clips_dir / "no_face.mp4", 2, step=15)
    layout = [("s1", "s1a", face_frames[:3]), ("s1", "s1b", face_frames[3:6]),
              ("s2", "s2a", [*face_frames[6:8], *empty])]
    records = []
    for subject, sequence, images in layout:
        folder = tmp_path / "data" / subject / sequence
        folder.mkdir(parents=True)
        for number, image in enumerate(images, 1):
            path = folder / f"{sequence}{number:03d}.png"
            cv2.imwrite(str(path), image)
            records.append(Record(subject, sequence, number, path))
    return records


def _build(records: list[Record], tmp_path: Path, **kwargs: object):
    return build_cache(records, tmp_path / "data", SETTINGS, cache_root=tmp_path / "cache",
                       progress=False, **kwargs)


def _mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.rglob("*.npy")}


def test_every_frame_is_aligned_once_and_frames_without_a_face_are_reported(
    frames: list[Record], tmp_path: Path
) -> None:
    cache = _build(frames, tmp_path, workers=2)
    assert cache.found.tolist() == [True] * 8 + [False, False]
    assert np.all(cache.prob[:8] > 0.9)
    crops = cache.crops(np.arange(10))
    assert crops.shape == (10, *SIZE, 3) and crops.dtype == np.uint8
    assert np.all(crops[:8].reshape(8, -1).std(axis=1) > 10)  # real faces, not blank
    assert not crops[8:].any()
    assert np.all(cache.landmarks[:8, 0, 0] < cache.landmarks[:8, 1, 0])  # image-left eye first
    np.testing.assert_array_equal(cache.crops(np.array([5, 0, 5])), crops[[5, 0, 5]])
    with cache.no_face_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    listed = [(r["subject"], r["sequence"], r["frame"]) for r in rows]
    assert listed == [("s2", "s2a", "3"), ("s2", "s2a", "4")]
    assert rows[0]["image"] == str(frames[8].image)
    with cache.index_csv.open() as handle:
        index = list(csv.DictReader(handle))
    assert len(index) == 10 and index[0]["found"] == "1" and index[-1]["found"] == "0"
    assert float(index[0]["landmark0_x"]) == pytest.approx(cache.landmarks[0, 0, 0], abs=0.01)


def test_an_interrupted_build_resumes_with_the_unfinished_sequences_only(
    frames: list[Record], tmp_path: Path
) -> None:
    first = _build(frames, tmp_path, workers=1)
    crops = first.crops(np.arange(10))
    parts = first.folder / "parts"
    before = _mtimes(parts)
    (parts / "s1" / "s1b.json").unlink()  # killed before s1b's index was written
    second = _build(frames, tmp_path, workers=1)
    after = _mtimes(parts)
    assert after["s1a.npy"] == before["s1a.npy"] and after["s2a.npy"] == before["s2a.npy"]
    assert after["s1b.npy"] != before["s1b.npy"]
    np.testing.assert_array_equal(second.crops(np.arange(10)), crops)
    # a changed image invalidates its sequence, and nothing else
    cv2.imwrite(str(frames[7].image), cv2.flip(cv2.imread(str(frames[7].image)), 1))
    third = _build(frames, tmp_path, workers=1)
    assert _mtimes(parts)["s2a.npy"] != after["s2a.npy"]
    assert _mtimes(parts)["s1a.npy"] == after["s1a.npy"]
    np.testing.assert_array_equal(third.crops(np.arange(7)), crops[:7])
    assert not np.array_equal(third.crops(np.array([7])), crops[[7]])


def test_cache_is_keyed_on_root_and_settings(tmp_path: Path) -> None:
    root = tmp_path / "data"
    assert AlignSettings(SIZE).key(root) == AlignSettings(SIZE).key(tmp_path / "data" / ".." / "data")
    assert AlignSettings(SIZE).key(root) != AlignSettings((112, 96)).key(root)
    assert AlignSettings(SIZE).key(root) != AlignSettings(SIZE, min_face_size=80).key(root)
    assert AlignSettings(SIZE).key(root) != AlignSettings(SIZE).key(tmp_path / "other")


def test_the_face_nearest_the_image_centre_is_kept(
    tmp_path: Path, clips_dir: Path, detector: FaceDetector
) -> None:
    image = cv2.imread(str(clips_dir / "multi_face.jpg"))
    faces = detector.detect(image, SETTINGS.min_face_size)
    assert len(faces) > 1
    centre = np.array([image.shape[1], image.shape[0]]) / 2
    nearest = min(faces, key=lambda f: np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - centre))
    (tmp_path / "data").mkdir()
    path = tmp_path / "data" / "multi001.png"
    cv2.imwrite(str(path), image)
    cache = _build([Record("s", "multi", 1, path)], tmp_path, workers=1)
    np.testing.assert_allclose(cache.boxes[0], nearest.box, atol=1.0)


def test_an_unreadable_image_is_named(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    path = tmp_path / "data" / "broken001.png"
    path.write_bytes(b"not a png")
    with pytest.raises(PainmonError, match=r"broken001\.png"):
        _build([Record("s", "broken", 1, path)], tmp_path, workers=1)
    with pytest.raises(PainmonError, match="no frames"):
        _build([], tmp_path)


def test_crop_landmarks_are_the_frames_landmarks_carried_into_the_crop(
    frames: list[Record], tmp_path: Path
) -> None:
    cache = _build(frames, tmp_path, workers=1)
    points = cache.crop_landmarks(np.array([9, 0, 4]))
    assert points.shape == (3, 5, 2) and np.isnan(points[0]).all()  # row 9 has no face
    template = template_for(SIZE)
    residual = np.linalg.norm(points[1:] - template, axis=2)
    assert residual.mean() < 1.5 and residual.max() < 3.0  # the similarity fit leaves expression residue only
    assert not np.allclose(points[1], template, atol=0.01)  # the frame's own points, not the template
    matrix = similarity_transform(cache.landmarks[0], template)
    np.testing.assert_allclose(points[1, 2], matrix[:, :2] @ cache.landmarks[0, 2] + matrix[:, 2], atol=1e-3)
