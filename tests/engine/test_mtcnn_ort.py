"""The torch-free MTCNN (engine.mtcnn on ONNX Runtime) against facenet-pytorch's, on real photos and clips:
its shipped networks, its numpy parts (area resampling, NMS), detection, refinement, batching, imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch
from facenet_pytorch.models.utils.detect_face import nms_numpy
from torch.nn.functional import interpolate
from torchvision.ops import box_iou
from torchvision.ops import nms as torch_nms

from engine import resample
from engine.boxes import nms, overlap
from engine.detector import FaceDetector
from engine.mtcnn import NETWORKS, OrtFaceDetector
from engine.mtcnn_onnx import load_network
from engine.onnx_files import model_files
from engine.paths import MTCNN_DIR
from engine.resample import area_resize
from engine.types import Face
from tests.helpers import ROOT, read_frames

CONFIDENT = 0.95
"""Faces at least this confident must be found by both detectors."""


def face_agreement(ours: list[Face], theirs: list[Face]) -> list[tuple[float, float]]:
    """(box IoU, mean landmark distance / inter-ocular distance) of each confident face of either list with
    its best match in the other; fails when a confident face has no match at IoU 0.5."""
    figures = []
    for found, other in ((ours, theirs), (theirs, ours)):
        for face in (face for face in found if face.prob >= CONFIDENT):
            assert other, f"a face at {face.box} (p {face.prob:.3f}) is found by one detector only"
            overlaps = overlap(face.box, np.stack([candidate.box for candidate in other]))
            match = other[int(overlaps.argmax())]
            assert overlaps.max() >= 0.5, f"a face at {face.box} (p {face.prob:.3f}) is found by one only"
            eyes = float(np.linalg.norm(face.landmarks[0] - face.landmarks[1]))
            distance = float(np.linalg.norm(face.landmarks - match.landmarks, axis=1).mean())
            figures.append((float(overlaps.max()), distance / eyes))
    return figures


def assert_agree(figures: list[tuple[float, float]]) -> None:
    """Every matched face: box IoU ≥ 0.9 and landmarks within 2 % of the inter-ocular distance; on average
    the same to float rounding (measured: IoU ≥ 0.999998, landmarks ≤ 1.5e-6 of it), which OpenCV's
    INTER_AREA resampling in place of torch's would miss (mean IoU 0.96, landmarks 2.5 %)."""
    for iou, landmarks in figures:
        assert iou >= 0.9 and landmarks <= 0.02, (iou, landmarks)
    ious, distances = np.array(figures).T
    assert ious.mean() >= 0.999 and distances.mean() <= 1e-3


@pytest.fixture(scope="module")
def parity_frames(clips_dir: Path) -> dict[str, list[np.ndarray]]:
    """Real frames by clip: every few frames of the videos, and both photos."""
    return {
        "single_face.mp4": read_frames(clips_dir / "single_face.mp4", 12, step=6),
        "WolfgangLanger_Pexels.mp4": read_frames(clips_dir / "WolfgangLanger_Pexels.mp4", 24, step=20),
        "face_noface.mov": read_frames(clips_dir / "face_noface.mov", 12, step=14),
        "single_face.jpg": [cv2.imread(str(clips_dir / "single_face.jpg"))],
        "multi_face.jpg": [cv2.imread(str(clips_dir / "multi_face.jpg"))],
    }


# -- the shipped networks ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NETWORKS)
def test_shipped_networks_are_facenet_pytorchs(name: str) -> None:
    """assets/mtcnn holds one self-contained FP32 file per net giving facenet-pytorch's outputs (a stale or
    damaged asset fails here; `python -m engine.mtcnn_onnx assets/mtcnn` makes them again)."""
    path = MTCNN_DIR / f"{name}.onnx"
    assert model_files(path) == [path]  # weights inside, no .data beside
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    net = load_network(name)
    generator = torch.Generator().manual_seed(0)
    shapes = {"pnet": [(1, 3, 12, 12), (2, 3, 97, 173)], "rnet": [(1, 3, 24, 24), (5, 3, 24, 24)],
              "onet": [(1, 3, 48, 48), (5, 3, 48, 48)]}
    for shape in shapes[name]:
        x = torch.rand(shape, generator=generator) * 2 - 1
        with torch.inference_mode():
            expected = net(x)
        got = session.run(None, {session.get_inputs()[0].name: x.numpy()})
        assert len(got) == len(expected)
        for ours, theirs in zip(got, expected, strict=True):
            np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-5)


def test_shipped_networks_are_small() -> None:
    sizes = {name: (MTCNN_DIR / f"{name}.onnx").stat().st_size for name in NETWORKS}
    assert sum(sizes.values()) < 2.5e6, sizes


# -- numpy parts ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(109, 193), (24, 24), (48, 48), (7, 5), (300, 250), (640, 360)])
def test_area_resampling_is_torchs(face_frames: list[np.ndarray], size: tuple[int, int]) -> None:
    """Down and up, square and not: torch's interpolate(mode="area") to float rounding."""
    patch = face_frames[0][40:290, 200:500]
    expected = interpolate(torch.from_numpy(patch).permute(2, 0, 1)[None].float(), size=size[::-1],
                           mode="area")[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(area_resize(patch, size), expected, atol=1e-4)


def test_area_resampling_of_frames_too_large_for_int32_sums(face_frames: list[np.ndarray],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """4K UHD sums in int32; beyond, the integral image is float64 (tried here on a small frame)."""
    assert resample._INT32_PIXELS >= 3840 * 2160 and resample._INT32_PIXELS * 255 < 2**31
    exact = area_resize(face_frames[0], (193, 109))
    monkeypatch.setattr(resample, "_INT32_PIXELS", 1000)
    np.testing.assert_allclose(area_resize(face_frames[0], (193, 109)), exact, atol=1e-4)


def random_boxes(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    corners = rng.uniform(0, 200, (count, 2)).astype(np.float32)
    boxes = np.concatenate([corners, corners + rng.uniform(5, 80, (count, 2)).astype(np.float32)], axis=1)
    return boxes, rng.uniform(0, 1, count).astype(np.float32)


@pytest.mark.parametrize("seed", range(5))
def test_nms_and_overlap_are_torchvisions_and_mtcnns(seed: int) -> None:
    boxes, scores = random_boxes(300, seed)
    expected_iou = box_iou(torch.from_numpy(boxes[:1]), torch.from_numpy(boxes))[0].numpy()
    np.testing.assert_allclose(overlap(boxes[0], boxes), expected_iou, atol=1e-6)
    for threshold in (0.5, 0.7):
        expected = torch_nms(torch.from_numpy(boxes), torch.from_numpy(scores), threshold).numpy()
        np.testing.assert_array_equal(nms(boxes, scores, threshold), expected)
        # facenet-pytorch's "Min" suppression after ONet keeps the same boxes (it lists them low to high)
        kept = nms(boxes, scores, threshold, smaller=True, inclusive=True)
        assert sorted(kept) == sorted(nms_numpy(boxes, scores, threshold, "Min"))
    assert nms(boxes[:0], scores[:0], 0.5).shape == (0,)


# -- detection and refinement -----------------------------------------------------------------------------
def test_detect_finds_the_faces_the_torch_detector_finds(
    ort_detector: OrtFaceDetector, detector: FaceDetector, parity_frames: dict[str, list[np.ndarray]]
) -> None:
    figures = []
    for frames in parity_frames.values():
        for frame in frames:
            ours, theirs = ort_detector.detect(frame), detector.detect(frame)
            assert [face.prob for face in ours] == sorted((face.prob for face in ours), reverse=True)
            figures += face_agreement(ours, theirs)
    assert len(figures) >= 2 * (12 + 24 + 6 + 1 + 5)  # every face of the clips, seen from both sides
    assert_agree(figures)


def test_refine_agrees_with_the_torch_detector(
    ort_detector: OrtFaceDetector, detector: FaceDetector, parity_frames: dict[str, list[np.ndarray]]
) -> None:
    """Each frame refined around the previous sampled frame's face (the tracker's step), and boxes beside
    the face or outside the frame: the same faces, or None from both."""
    refined = 0
    for frames in parity_frames.values():
        known = detector.detect(frames[0])
        boxes = [face.box for face in known[:1]] + [np.array([-300, -300, -100, -100], np.float32)]
        for frame in frames[1:]:
            for box in boxes:
                ours, theirs = ort_detector.refine(frame, box), detector.refine(frame, box)
                assert (ours is None) == (theirs is None)
                if ours is not None and theirs is not None:
                    assert_agree(face_agreement([ours], [theirs]))
                    refined += 1
    assert refined >= 30


def test_refine_many_is_refine_one_by_one(
    ort_detector: OrtFaceDetector, parity_frames: dict[str, list[np.ndarray]], clips_dir: Path
) -> None:
    """Boxes from frames of different clips and sizes in one batch, with faces, without, and outside."""
    items = []
    for frames in parity_frames.values():
        for frame in frames[::4]:
            items += [(frame, face.box) for face in ort_detector.detect(frame)[:2]]
    no_face = read_frames(clips_dir / "no_face.mp4", 1)[0]
    items += [(no_face, items[0][1]), (items[1][0], np.array([2000, 10, 2100, 90], np.float32))]
    batched = ort_detector.refine_many(items)
    alone = [ort_detector.refine(frame, box) for frame, box in items]
    assert batched[-2:] == [None, None] and sum(face is not None for face in batched) >= 10
    for ours, reference in zip(batched, alone, strict=True):
        assert (ours is None) == (reference is None)
        if ours is not None and reference is not None:
            np.testing.assert_allclose(ours.box, reference.box, atol=1e-3)
            np.testing.assert_allclose(ours.landmarks, reference.landmarks, atol=1e-3)
            assert ours.prob == pytest.approx(reference.prob, abs=1e-5)
    assert ort_detector.refine_many([]) == []


def test_detect_takes_a_window_of_a_frame(ort_detector: OrtFaceDetector, face_frames: list[np.ndarray]
                                          ) -> None:
    """A slice of a frame (as the tracker's search window) gives what a copy of it gives."""
    window = face_frames[0][20:340, 150:560]
    ours, copied = ort_detector.detect(window), ort_detector.detect(window.copy())
    assert len(ours) == len(copied) == 1
    np.testing.assert_array_equal(ours[0].box, copied[0].box)


def test_face_stage_modules_import_without_torch() -> None:
    """The ONNX Runtime face stage, the tracker and the pipeline import no torch, torchvision or
    facenet-pytorch (the torch detector is imported only when a torch or TensorRT predictor wants it)."""
    code = ("import sys, engine.mtcnn, engine.tracker, engine.pipeline; "
            "print(sorted({'torch', 'torchvision', 'facenet_pytorch'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=True)
    assert done.stdout.strip() == "[]"
