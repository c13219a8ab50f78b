"""Backends: PyTorch and ONNX Runtime agree on real face crops; ONNX export and its cache; errors."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from safetensors.torch import load_file

from engine.align import align_face
from engine.backbone_specs import BACKBONES
from engine.backends import create_predictor
from engine.checkpoint import card_for, save_checkpoint
from engine.detector import FaceDetector
from engine.errors import BackendUnavailableError, ModelFileError
from engine.files import file_sha256
from engine.model import PainRegressor
from engine.model_onnx import EXPORT_VERSION, INPUT_NAME, MAX_BATCH
from engine.onnx_export import OPSET, export_model
from engine.paths import cache_dir

PARITY_ATOL = 1e-4


@pytest.fixture(scope="module")
def face_crops(face_frames: list[np.ndarray], detector: FaceDetector) -> list[tuple[np.ndarray, np.ndarray]]:
    """Real video frames with the 5 landmarks of their face, ready for alignment."""
    return [(frame, detector.detect(frame)[0].landmarks) for frame in face_frames[::3]]


def _faces(located: list[tuple[np.ndarray, np.ndarray]], input_size: tuple[int, int]) -> np.ndarray:
    """The faces aligned exactly as the engine's pipeline aligns them for a model of `input_size`."""
    return np.stack([align_face(frame, landmarks, input_size) for frame, landmarks in located])


def _checkpoint(backbone: str, faces: np.ndarray, path: Path) -> Path:
    """A random-weight model whose batch-norm statistics come from real faces, so its scores vary."""
    torch.manual_seed(0)
    model = PainRegressor(backbone)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration pass
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(faces).permute(0, 3, 1, 2).float())
    card = card_for(model, name=f"test-{backbone}", version="0", trained_on="random weights")
    return save_checkpoint(path, model.eval(), card)


@pytest.fixture(scope="module")
def small_checkpoint_and_cache(
    face_crops: list[tuple[np.ndarray, np.ndarray]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("small")
    faces = _faces(face_crops, BACKBONES["face_cnn_small"].input_size)
    return _checkpoint("face_cnn_small", faces, folder / "small.safetensors"), folder / "cache"


@pytest.fixture
def small_checkpoint(small_checkpoint_and_cache: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """The small model's checkpoint, with one painmon cache for this module so it is exported once."""
    checkpoint, cache = small_checkpoint_and_cache
    monkeypatch.setenv("PAINMON_CACHE_DIR", str(cache))
    return checkpoint


@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_torch_and_onnxruntime_agree_on_real_faces(
    backbone: str, face_crops: list[tuple[np.ndarray, np.ndarray]], tmp_path: Path
) -> None:
    faces = _faces(face_crops, BACKBONES[backbone].input_size)
    checkpoint = _checkpoint(backbone, faces, tmp_path / f"{backbone}.safetensors")
    reference = create_predictor(checkpoint, "torch", "cpu")
    fast = create_predictor(checkpoint, "onnx")
    assert (reference.name, fast.name, fast.device) == ("torch", "onnx", "cpu")
    assert reference.input_size == fast.input_size == BACKBONES[backbone].input_size

    expected = reference.predict(faces)
    assert expected.dtype == np.float32
    assert expected.shape == (len(faces),)
    assert ((expected >= 0) & (expected <= 5)).all()
    assert np.ptp(expected) > 1e-3, "scores must differ between faces for the comparison to mean anything"
    np.testing.assert_allclose(fast.predict(faces), expected, rtol=0, atol=PARITY_ATOL)
    single = fast.predict(faces[:1])
    assert single.shape == (1,)
    np.testing.assert_allclose(single, reference.predict(faces[:1]), rtol=0, atol=PARITY_ATOL)
    np.testing.assert_allclose(single, expected[:1], rtol=0, atol=PARITY_ATOL)

    for predictor in (reference, fast):
        empty = predictor.predict(np.zeros((0, *predictor.input_size, 3), np.uint8))
        assert empty.shape == (0,)
        assert empty.dtype == np.float32


def test_batches_larger_than_the_export_are_chunked(
    small_checkpoint: Path, face_crops: list[tuple[np.ndarray, np.ndarray]]
) -> None:
    faces = _faces(face_crops, (112, 96))
    many = np.concatenate([faces] * (MAX_BATCH // len(faces) + 2))[: MAX_BATCH + 6]
    expected = create_predictor(small_checkpoint, "torch", "cpu").predict(many)
    scores = create_predictor(small_checkpoint, "onnx").predict(many)
    np.testing.assert_allclose(scores, expected, rtol=0, atol=PARITY_ATOL)


def test_export_has_dynamic_batch_in_one_file(small_checkpoint: Path, tmp_path: Path) -> None:
    from engine.checkpoint import load_checkpoint

    model, _ = load_checkpoint(small_checkpoint)
    path = export_model(model, tmp_path / "small.onnx", max_batch=8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.onnx"]  # no .onnx.data, no leftovers
    graph = onnx.load(path)
    onnx.checker.check_model(graph)
    assert max(entry.version for entry in graph.opset_import if entry.domain in ("", "ai.onnx")) >= 18
    (inputs,) = graph.graph.input
    dims = inputs.type.tensor_type.shape.dim
    assert inputs.name == INPUT_NAME
    assert dims[0].dim_param and not dims[0].dim_value  # symbolic batch
    assert [d.dim_value for d in dims[1:]] == [3, 112, 96]
    assert OPSET >= 18


def test_onnx_export_is_cached_by_checkpoint_hash(
    small_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAINMON_CACHE_DIR", str(tmp_path / "fresh-cache"))
    first = create_predictor(small_checkpoint, "onnx")
    assert first.onnx_path == cache_dir("onnx") / f"{file_sha256(small_checkpoint)}-v{EXPORT_VERSION}.onnx"
    stamp = first.onnx_path.stat().st_mtime_ns
    assert create_predictor(small_checkpoint, "onnx").onnx_path.stat().st_mtime_ns == stamp

    # Same file name, new weights: a new export.
    retrained = tmp_path / small_checkpoint.name
    model = PainRegressor("face_cnn_small")
    save_checkpoint(retrained, model, card_for(model, name="other", version="1", trained_on="-"))
    assert create_predictor(retrained, "onnx").onnx_path != first.onnx_path


@pytest.mark.parametrize("damage", ["cut short", "a weight changed"])
def test_a_damaged_cached_export_is_made_again(small_checkpoint: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    monkeypatch.setenv("PAINMON_CACHE_DIR", str(tmp_path / "fresh-cache"))
    export = create_predictor(small_checkpoint, "onnx").onnx_path
    faces = np.full((2, 112, 96, 3), 128, np.uint8)
    scores = create_predictor(small_checkpoint, "torch").predict(faces)
    data = export.read_bytes()
    if damage == "cut short":
        export.write_bytes(data[: len(data) // 2])
    else:  # the output bias changed on disk: the file still loads, and scores otherwise
        bias = struct.pack("<f", load_file(small_checkpoint)["head.1.bias"].item())
        assert data.count(bias) == 1
        export.write_bytes(data.replace(bias, struct.pack("<f", 3.0)))
    predictor = create_predictor(small_checkpoint, "onnx")
    assert predictor.onnx_path == export
    np.testing.assert_allclose(predictor.predict(faces), scores, atol=PARITY_ATOL)


def test_faces_of_the_wrong_shape_are_refused(small_checkpoint: Path) -> None:
    for backend in ("torch", "onnx"):
        predictor = create_predictor(small_checkpoint, backend, "cpu")
        with pytest.raises(ValueError, match="112×96"):
            predictor.predict(np.zeros((2, 160, 160, 3), np.uint8))
        with pytest.raises(ValueError, match="uint8"):
            predictor.predict(np.zeros((2, 112, 96, 3), np.float32))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the choice made on a machine without a GPU")
def test_auto_picks_onnxruntime_on_a_cpu_machine(small_checkpoint: Path) -> None:
    assert create_predictor(small_checkpoint).name == "onnx"
    assert create_predictor(small_checkpoint, device="cpu").name == "onnx"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_unavailable_device_or_backend_is_a_clear_error(small_checkpoint: Path) -> None:
    with pytest.raises(BackendUnavailableError, match="no usable CUDA GPU"):
        create_predictor(small_checkpoint, "torch", "cuda")
    with pytest.raises(BackendUnavailableError, match="no usable CUDA GPU"):
        create_predictor(small_checkpoint, "auto", "cuda:0")
    with pytest.raises(BackendUnavailableError, match="ONNX Runtime cannot run on cuda"):
        create_predictor(small_checkpoint, "onnx", "cuda")
    with pytest.raises(BackendUnavailableError, match="unknown backend 'openvino'"):
        create_predictor(small_checkpoint, "openvino")


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_damaged_checkpoint_is_a_model_file_error(backend: str, tmp_path: Path) -> None:
    path = tmp_path / "damaged.safetensors"
    path.write_bytes(b"\x00" * 100)
    with pytest.raises(ModelFileError, match=str(path)):
        create_predictor(path, backend, "cpu")
