"""The same glue on real TensorRT and a CUDA GPU: engines built, verified on real frames, cached, reloaded,
run per thread, and standing in for facenet-pytorch's networks; an AU model's engine with its two outputs.
Skipped where TensorRT is not installed (every machine of this project's CI: FACTS.md §1)."""

from __future__ import annotations

import importlib.util
import threading

import cv2
import numpy as np
import pytest
import torch
from facenet_pytorch import MTCNN

from engine.mtcnn_onnx import NETWORKS
from engine.tensorrt.cache import PlanCache
from engine.tensorrt.engines import cached_engine, ensure_engines, plan_key
from engine.tensorrt.gpu import cuda_gpu
from engine.tensorrt.networks import mtcnn_networks, network_inputs, regressor_network
from tests.helpers import save_random_au_checkpoint

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tensorrt") is None, reason="TensorRT not installed")


@pytest.fixture(scope="module")
def gpu():
    found = cuda_gpu()
    assert found is not None, "TensorRT is installed, so this machine should have a CUDA GPU"
    return found


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_mtcnn_engines_build_verify_and_reload(gpu, face_frames, precision):
    specs = mtcnn_networks()
    engines = ensure_engines(specs, precision, gpu, frames=lambda: face_frames[::3])
    assert {p.network for p in engines.parities} == set(NETWORKS)
    assert all(p.ok for p in engines.parities), "\n".join(p.line() for p in engines.parities)
    for spec in specs:
        assert cached_engine(spec, precision, gpu) is not None


def test_a_damaged_plan_is_rebuilt(gpu, face_frames):
    spec = mtcnn_networks()[1]
    ensure_engines([spec], "fp32", gpu, frames=lambda: face_frames[::6])
    path = PlanCache().plan_path(plan_key(spec, "fp32", gpu))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert cached_engine(spec, "fp32", gpu) is None
    assert ensure_engines([spec], "fp32", gpu, frames=lambda: face_frames[::6]).parities


def test_engines_stand_in_for_facenet_networks_on_the_gpu(gpu, face_frames):
    from engine.backends.tensorrt_backend import tensorrt_mtcnn

    engines = ensure_engines(mtcnn_networks(), "fp16", gpu, frames=lambda: face_frames[::3])
    frame = cv2.cvtColor(face_frames[0], cv2.COLOR_BGR2RGB)
    want = MTCNN(min_face_size=40, device=gpu.device).detect(frame, landmarks=True)
    detector = MTCNN(min_face_size=40, device=gpu.device)
    for name, net in tensorrt_mtcnn("fp16", engines).items():
        setattr(detector, name, net)
    got = detector.detect(frame, landmarks=True)
    np.testing.assert_allclose(got[0].astype(np.float32), want[0].astype(np.float32), atol=2.0)
    np.testing.assert_allclose(got[2].astype(np.float32), want[2].astype(np.float32), atol=2.0)


def test_threads_share_an_engine_with_their_own_contexts(gpu, face_frames):
    spec = mtcnn_networks()[2]
    net = ensure_engines([spec], "fp16", gpu, frames=lambda: face_frames[::6]).nets["onet"]
    x = torch.rand(16, 3, 48, 48, device=gpu.device) * 2 - 1
    results = {}

    def work(tag: str) -> None:
        for _ in range(20):
            results[tag] = net(x)["face_prob"]

    threads = [threading.Thread(target=work, args=(tag,)) for tag in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for tag in "bcd":
        torch.testing.assert_close(results[tag], results["a"])


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_an_au_model_engine_verifies_and_predicts_both_outputs(gpu, face_frames, tmp_path, precision):
    from engine.backends.tensorrt_backend import TensorRTPredictor

    faces = network_inputs(face_frames[::3], (112, 96))["regressor"][0]
    checkpoint = save_random_au_checkpoint(tmp_path / "au.safetensors", faces)
    spec = regressor_network(checkpoint)
    engines = ensure_engines([spec], precision, gpu, frames=lambda: face_frames[::3])
    assert [p.output for p in engines.parities] == ["scores", "aus", "features"]
    assert all(p.ok for p in engines.parities), "\n".join(p.line() for p in engines.parities)
    predictor = TensorRTPredictor.from_engines(engines, checkpoint)
    prediction = predictor.predict_outputs(faces.permute(0, 2, 3, 1).to(torch.uint8).numpy())
    want = spec.reference(faces)
    np.testing.assert_allclose(prediction.scores, want["scores"], atol=0.05)
    np.testing.assert_allclose(prediction.aus, want["aus"], atol=0.01)
