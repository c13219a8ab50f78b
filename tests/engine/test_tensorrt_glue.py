"""painmon's TensorRT glue against the fake `tensorrt` module (tests/engine/fake_tensorrt): the API calls it
makes, the plan cache and its key, the rebuild of a plan that no longer loads, the refusal of a wrong engine,
the runtime's buffers, threads and chunks, the MTCNN engines as drop-ins, background builds, every fallback.

The fake "runs" engines with ONNX Runtime on host memory, so engines here live on the CPU device.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.checkpoint import card_for, save_checkpoint
from engine.detector import FaceDetector
from engine.errors import BackendUnavailableError
from engine.model import PainRegressor
from engine.model_card import read_applicability
from engine.mtcnn_onnx import NETWORKS
from engine.paths import DEMO_MODEL
from engine.tensorrt import EngineBuildError, EngineVerificationError
from engine.tensorrt.builder import WORKSPACE_BYTES, BuildCancelledError, build_plan
from engine.tensorrt.cache import PlanCache
from engine.tensorrt.engines import BackgroundBuild, cached_engine, engines_cached, ensure_engines, plan_key
from engine.tensorrt.gpu import Gpu
from engine.tensorrt.networks import NetworkSpec, network_inputs, regressor_network
from engine.tensorrt.profiles import RNET, Profile
from engine.tensorrt.runtime import TensorRTNet
from tests.engine import fake_tensorrt

CPU = torch.device("cpu")
GPU = Gpu(0, "NVIDIA Fake 80GB", (9, 0))


@pytest.fixture
def trt(monkeypatch: pytest.MonkeyPatch):
    """The fake tensorrt module as `tensorrt`, fresh for each test."""
    return fake_tensorrt.install(monkeypatch)


@pytest.fixture
def frames(face_frames: list[np.ndarray]):
    return lambda: face_frames[::6]


def test_build_uses_the_strongly_typed_api_with_profile_workspace_and_timing_cache(trt, exported, tmp_path):
    timing = tmp_path / "timing" / "gpu.cache"
    plan = build_plan(exported["rnet", "fp16"], RNET, timing)
    assert plan.startswith(fake_tensorrt.PLAN_MAGIC)
    header = json.loads(plan[len(fake_tensorrt.PLAN_MAGIC):])
    assert header["flags"] == 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    assert not header["tf32"]  # FP32 layers stay IEEE FP32
    assert trt.called("parse_from_file") == [("parse_from_file", str(exported["rnet", "fp16"]))]
    assert trt.called("set_memory_pool_limit") == [
        ("set_memory_pool_limit", trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)]
    assert trt.called("set_shape") == [("set_shape", "image", RNET.min, RNET.opt, RNET.max)]
    # the timing cache is written after the first build and read back by the next one
    assert timing.read_bytes().startswith(fake_tensorrt.TIMING_MAGIC)
    build_plan(exported["rnet", "fp32"], RNET, timing)
    assert [entry[1] > 0 for entry in trt.called("create_timing_cache")] == [False, True]
    assert json.loads(timing.read_bytes()[len(fake_tensorrt.TIMING_MAGIC):]) == {"entries": 2}


def test_parse_errors_become_one_clear_message(trt, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"this is not an ONNX model")
    with pytest.raises(EngineBuildError, match=r"TensorRT cannot parse broken\.onnx: ModelImporter"):
        build_plan(broken, RNET, tmp_path / "timing.cache")
    assert not trt.called("build_serialized_network")


def test_a_build_can_be_cancelled(trt, exported, tmp_path):
    cancel = threading.Event()
    steps = []

    def progress(phase: str, step: int, total: int) -> None:
        steps.append((phase, step, total))
        cancel.set()

    with pytest.raises(BuildCancelledError):
        build_plan(exported["rnet", "fp32"], RNET, tmp_path / "timing.cache", progress=progress,
                   cancel=cancel)
    assert steps[0] == ("Building engine", 0, 2)
    assert not (tmp_path / "timing.cache").exists()


def test_plan_key_has_every_field_and_each_one_matters(trt, specs):
    key = plan_key(specs["rnet"], "fp16", GPU)
    assert key.fields() == {
        "network": "rnet", "onnx_sha256": key.onnx_sha256, "tensorrt_version": fake_tensorrt.__version__,
        "gpu_name": "NVIDIA Fake 80GB", "compute_capability": "9.0", "precision": "fp16",
        "profile": {"min": [1, 3, 24, 24], "opt": [64, 3, 24, 24], "max": [512, 3, 24, 24]},
    }
    assert len(key.onnx_sha256) == 64
    assert plan_key(specs["rnet"], "fp32", GPU).onnx_sha256 != key.onnx_sha256  # another ONNX file
    variants = [replace(key, onnx_sha256="0" * 64), replace(key, tensorrt_version="11.0.0"),
                replace(key, gpu_name="NVIDIA L4"), replace(key, compute_capability="8.9"),
                replace(key, precision="fp32"), replace(key, profile=replace(RNET, max=(256, 3, 24, 24)))]
    cache = PlanCache()
    paths = {cache.plan_path(k) for k in [key, *variants]}
    assert len(paths) == 1 + len(variants)


def test_new_engines_are_verified_cached_with_metadata_and_reused(trt, specs, frames, caplog):
    nets = [specs["rnet"], specs["onet"]]
    engines = ensure_engines(nets, "fp16", GPU, frames=frames, device=CPU)
    assert set(engines.nets) == {"rnet", "onet"}
    assert {(p.network, p.backend, p.precision) for p in engines.parities} == {
        ("rnet", "tensorrt", "fp16"), ("onet", "tensorrt", "fp16")}
    assert all(p.ok for p in engines.parities)
    cache = PlanCache()
    entries = cache.entries()
    assert [e["network"] for e in entries] == ["onet", "rnet"]
    rnet = next(e for e in entries if e["network"] == "rnet")
    assert rnet | plan_key(specs["rnet"], "fp16", GPU).fields() == rnet
    assert {p["output"] for p in rnet["parity"]} == {"box_regression", "face_prob"}
    assert (cache.root / rnet["plan"]).read_bytes().startswith(fake_tensorrt.PLAN_MAGIC)
    assert not list(cache.root.glob(".*"))  # no temporary files left behind
    assert engines_cached(nets, "fp16", GPU)
    assert not engines_cached(nets, "fp32", GPU)

    builds = len(trt.called("build_serialized_network"))
    again = ensure_engines(nets, "fp16", GPU, frames=pytest.fail, device=CPU)  # no frames needed
    assert again.parities == []
    assert len(trt.called("build_serialized_network")) == builds


def test_a_plan_that_no_longer_loads_is_rebuilt(trt, specs, frames, caplog):
    spec = specs["rnet"]
    ensure_engines([spec], "fp32", GPU, frames=frames, device=CPU)
    cache = PlanCache()
    path = cache.plan_path(plan_key(spec, "fp32", GPU))
    path.write_bytes(path.read_bytes()[:40])  # a damaged plan: TensorRT's deserializer returns None
    with caplog.at_level(logging.WARNING):
        assert cached_engine(spec, "fp32", GPU, device=CPU) is None
    assert "does not load (deserialize returned None)" in caplog.text
    assert not path.exists()
    engines = ensure_engines([spec], "fp32", GPU, frames=frames, device=CPU)
    assert len(trt.called("build_serialized_network")) == 2
    assert [p.network for p in engines.parities] == ["rnet", "rnet"]
    assert path.read_bytes().startswith(fake_tensorrt.PLAN_MAGIC)


def test_a_wrong_engine_is_refused_with_the_numbers(trt, specs, frames):
    trt.state.output_error = 0.03
    with pytest.raises(EngineVerificationError) as refused:
        ensure_engines([specs["onet"]], "fp16", GPU, frames=frames, device=CPU)
    message = str(refused.value)
    assert "TensorRT fp16 engine of onet refused" in message
    assert "max|Δ| 3.0e-02 (≤ 1e-02)" in message and "FAIL" in message
    assert PlanCache().entries() == []  # nothing cached


def _runtime_net(trt, spec: NetworkSpec, precision: str, profile: Profile | None = None) -> TensorRTNet:
    plan = build_plan(spec.onnx(precision), profile or spec.profile, PlanCache().root / "timing.cache")
    net = TensorRTNet.from_plan(plan, CPU)
    assert net is not None
    return net


def test_runtime_binds_buffers_once_and_runs_batches_beyond_the_profile_in_chunks(trt, specs):
    spec = specs["rnet"]
    net = _runtime_net(trt, spec, "fp32", Profile((1, 3, 24, 24), (4, 3, 24, 24), (8, 3, 24, 24)))
    assert net.input_name == "image" and net.output_names == ["box_regression", "face_prob"]
    x = torch.rand(20, 3, 24, 24) * 2 - 1
    out = net(x)
    want = spec.reference(x)
    for name in spec.output_names:
        np.testing.assert_allclose(out[name].numpy(), want[name], atol=1e-5)
    assert [c[2][0] for c in trt.called("set_input_shape")] == [8, 8, 8, 4]  # max at setup, then chunks
    assert len(trt.called("set_tensor_address")) == 3  # input and two outputs, bound once
    assert len(trt.called("execute_async_v3")) == 3
    with pytest.raises(ValueError, match="outside the engine's profile"):
        net(torch.rand(2, 3, 48, 48))


def test_each_thread_gets_its_own_execution_context(trt, specs):
    net = _runtime_net(trt, specs["onet"], "fp32")
    x = torch.rand(3, 3, 48, 48)
    results = {}
    both_alive = threading.Barrier(2)  # thread ids are reused once a thread ends

    def work(tag: str) -> None:
        for _ in range(2):
            results[tag] = net(x)["face_prob"]
        both_alive.wait(timeout=30)

    threads = [threading.Thread(target=work, args=(tag,)) for tag in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    contexts = {entry[1] for entry in trt.called("create_execution_context")}
    runs = {entry[2] for entry in trt.called("execute_async_v3")}
    assert len(contexts) == 2 and runs == contexts
    torch.testing.assert_close(results["a"], results["b"])


def test_engines_stand_in_for_facenet_networks(trt, specs, face_frames, detector):
    from engine.backends.tensorrt_backend import MTCNNEngine

    engines = {name: MTCNNEngine(_runtime_net(trt, specs[name], "fp16"), specs[name].output_names)
               for name in NETWORKS}
    with_engines = FaceDetector(nets=engines)
    frame = face_frames[0]
    (want,), (got,) = detector.detect(frame), with_engines.detect(frame)
    np.testing.assert_allclose(got.box, want.box, atol=1.0)
    np.testing.assert_allclose(got.landmarks, want.landmarks, atol=1.0)
    assert abs(got.prob - want.prob) < 1e-3
    assert {entry[2][2:] for entry in trt.called("set_input_shape")} > {(24, 24), (48, 48)}  # the pyramid
    refined = with_engines.refine(face_frames[1], got.box)  # the tracker's path: RNet + ONet engines only
    np.testing.assert_allclose(refined.box, detector.refine(face_frames[1], want.box).box, atol=1.0)


def test_background_build_reports_progress_and_finishes(trt, specs, frames):
    seen, done = [], threading.Event()
    job = BackgroundBuild(lambda: [specs["rnet"], specs["onet"]], "fp32", GPU, device=CPU, frames=frames,
                          on_progress=seen.append, on_done=lambda future: done.set())
    engines = job.future.result(timeout=120)
    assert done.wait(5)
    assert set(engines.nets) == {"rnet", "onet"}
    finished = [(p.network, p.index, p.count) for p in seen if p.step == p.steps]
    assert finished == [("rnet", 0, 2), ("onet", 1, 2)]


def test_background_build_can_be_cancelled(trt, specs, frames):
    started = threading.Event()
    release = threading.Event()

    def networks() -> list[NetworkSpec]:
        started.set()
        release.wait(10)
        return [specs["rnet"]]

    job = BackgroundBuild(networks, "fp32", GPU, device=CPU, frames=frames)
    assert started.wait(10)
    job.cancel()
    release.set()
    with pytest.raises(BuildCancelledError):
        job.future.result(timeout=60)
    assert PlanCache().entries() == []


@pytest.fixture
def small_model(tmp_path, face_frames) -> tuple[Path, PainRegressor, np.ndarray]:
    """A small-CNN checkpoint (random weights, batch-norm statistics from real faces so scores vary), the
    model, and real aligned faces as uint8 RGB."""
    faces = network_inputs(face_frames[::6], (112, 96))["regressor"][0]
    torch.manual_seed(0)
    model = PainRegressor("face_cnn_small")
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None
    with torch.no_grad():
        model.train()(faces)
    model.eval()
    card = card_for(model, name="small", version="0", trained_on="random weights")
    checkpoint = save_checkpoint(tmp_path / "small.safetensors", model, card)
    return checkpoint, model, faces.permute(0, 2, 3, 1).to(torch.uint8).numpy()


def test_tensorrt_predictor_scores_faces_like_pytorch(trt, small_model, frames):
    from engine.backends.tensorrt_backend import TensorRTPredictor

    checkpoint, model, faces = small_model
    engines = ensure_engines([regressor_network(checkpoint)], "fp16", GPU, frames=frames, device=CPU)
    predictor = TensorRTPredictor.from_engines(engines, checkpoint)
    assert (predictor.name, predictor.device, predictor.input_size) == ("tensorrt", "cpu", (112, 96))
    scores = predictor.predict(faces)
    with torch.no_grad():
        want = model(torch.from_numpy(faces).permute(0, 3, 1, 2).float()).numpy()
    assert scores.dtype == np.float32 and scores.shape == (len(faces),)
    assert np.ptp(want) > 0.05
    np.testing.assert_allclose(scores, want, atol=0.05)  # FP16 tolerance on the 0–5 scale
    assert predictor.predict(faces[:0]).shape == (0,)
    with pytest.raises(ValueError, match="shape"):
        predictor.predict(np.zeros((1, 160, 160, 3), np.uint8))


def test_every_backend_returns_the_same_applicability_features(trt, small_model, frames):
    """torch, ONNX Runtime and (fake) TensorRT in FP32 give the demo model's features of real faces within
    1e-4 of the largest, so each backend finds the same faces outside the model's training faces."""
    from engine.backends.onnx_backend import OnnxPredictor
    from engine.backends.tensorrt_backend import TensorRTPredictor
    from engine.backends.torch_backend import TorchPredictor

    faces = small_model[2]
    engines = ensure_engines([regressor_network(DEMO_MODEL)], "fp32", GPU, frames=frames, device=CPU)
    predictors = [TorchPredictor(DEMO_MODEL, "cpu"), OnnxPredictor(DEMO_MODEL, "cpu"),
                  TensorRTPredictor.from_engines(engines, DEMO_MODEL)]
    reference, *others = [p.predict_outputs(faces) for p in predictors]
    description = read_applicability(DEMO_MODEL)
    assert description is not None and reference.features.shape == (len(faces), len(description.mean))
    scale = float(np.abs(reference.features).max())
    for predictor, outputs in zip(predictors[1:], others, strict=True):
        assert outputs.features.dtype == np.float32, predictor.name
        assert np.abs(outputs.features - reference.features).max() <= 1e-4 * scale, predictor.name
        np.testing.assert_allclose(description.value(outputs.features), description.value(reference.features),
                                   atol=1e-4, err_msg=predictor.name)


# ---------------------------------------------------------------- backend choice and its fallbacks


def test_auto_without_tensorrt_falls_back_with_one_line_each(monkeypatch, caplog):
    from engine.backends.select import choose_backend

    monkeypatch.setitem(sys.modules, "tensorrt", None)  # `import tensorrt` raises ImportError
    with caplog.at_level(logging.WARNING):
        choice = choose_backend("auto")
    assert (choice.backend, choice.device) == ("onnx", "cpu")  # no CUDA GPU on this machine
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("backend auto: not TensorRT: TensorRT not installed")
    assert "pip install tensorrt-cu13" in lines[0]
    assert lines[1] == ("backend auto: not PyTorch CUDA: no CUDA GPU (the CUDA driver reports none); using "
                        "ONNX Runtime on the CPU")
    assert choice.skipped[0].startswith("TensorRT: TensorRT not installed")


def test_tensorrt_whose_libraries_are_missing_is_reported(monkeypatch, tmp_path):
    from engine.backends.select import tensorrt_unavailable

    package = tmp_path / "tensorrt"
    package.mkdir()
    (package / "__init__.py").write_text(
        'raise OSError("libnvinfer.so.10: cannot open shared object file: No such file or directory")\n')
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    reason = tensorrt_unavailable()
    assert reason.startswith("TensorRT libraries cannot be loaded (libnvinfer.so.10: cannot open")


def test_tensorrt_without_cuda_is_reported(trt, caplog):
    from engine.backends.select import choose_backend, tensorrt_unavailable

    trt.state.cuda = False
    assert tensorrt_unavailable() == f"TensorRT cannot initialise CUDA ({fake_tensorrt.NULLPTR})"
    with caplog.at_level(logging.WARNING):
        assert choose_backend("auto").backend == "onnx"
    assert "not TensorRT: TensorRT cannot initialise CUDA" in caplog.records[0].getMessage()
    with pytest.raises(BackendUnavailableError, match="cannot initialise CUDA"):
        choose_backend("tensorrt")


def test_building_or_loading_without_cuda_is_a_clear_error(trt, exported, tmp_path):
    trt.state.cuda = False
    message = re.escape(f"TensorRT cannot initialise CUDA ({fake_tensorrt.NULLPTR})")
    with pytest.raises(BackendUnavailableError, match=message):
        build_plan(exported["rnet", "fp32"], RNET, tmp_path / "timing.cache")
    with pytest.raises(BackendUnavailableError, match=message):
        TensorRTNet.from_plan(b"plan", CPU)


def test_tensorrt_without_a_torch_gpu_is_reported(trt):
    from engine.backends.select import tensorrt_unavailable

    assert tensorrt_unavailable() == "TensorRT imports but torch sees no CUDA GPU for its buffers"


def test_tensorrt_is_chosen_when_it_runs_and_torch_cuda_is_next(trt, monkeypatch, caplog):
    from engine.backends import select

    monkeypatch.setattr("engine.tensorrt.gpu.cuda_gpu", lambda index=0: GPU)
    assert select.choose_backend("auto") == select.BackendChoice("tensorrt", "cuda:0")
    trt.state.cuda = False
    monkeypatch.setattr(select, "_no_cuda", lambda: None)
    with caplog.at_level(logging.WARNING):
        choice = select.choose_backend("auto")
    assert (choice.backend, choice.device) == ("torch", "cuda:0")
    assert len(caplog.records) == 1


def test_tensorrt_waits_for_a_models_engines(trt, monkeypatch, small_model, specs, frames):
    from engine.backends import select

    checkpoint = small_model[0]
    networks = [regressor_network(checkpoint), specs["rnet"]]  # (two of the four, to keep this quick)
    monkeypatch.setattr("engine.tensorrt.engines.model_networks", lambda path: networks)
    monkeypatch.setattr("engine.tensorrt.gpu.cuda_gpu", lambda index=0: GPU)
    monkeypatch.setattr(select, "_no_cuda", lambda: None)
    choice = select.choose_backend("auto", checkpoint)
    assert (choice.backend, choice.device) == ("torch", "cuda:0")
    assert choice.skipped == (
        "TensorRT: no verified fp16 TensorRT engines for this model on NVIDIA Fake 80GB yet "
        "(painmon engine build MODEL, or let the app build them)",)
    ensure_engines(networks, "fp16", GPU, frames=frames, device=CPU)
    assert select.choose_backend("auto", checkpoint).backend == "tensorrt"
    assert select.choose_backend("auto", checkpoint, precision="fp32").backend == "torch"


def test_create_predictor_steps_down_to_onnxruntime_here(monkeypatch, small_model, caplog):
    from engine.backends import create_predictor

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with caplog.at_level(logging.WARNING):
        predictor = create_predictor(small_model[0], "auto")
    assert (predictor.name, predictor.device) == ("onnx", "cpu")
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["backend auto", "backend auto"]
    with pytest.raises(BackendUnavailableError, match="TensorRT not installed"):
        create_predictor(small_model[0], "tensorrt")


def test_explicit_backends(monkeypatch):
    from engine.backends.select import BackendChoice, choose_backend

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    assert choose_backend("onnx") == BackendChoice("onnx", "cpu")
    assert choose_backend("torch") == BackendChoice("torch", "cpu")
    with pytest.raises(BackendUnavailableError, match="TensorRT not installed"):
        choose_backend("tensorrt")
    with pytest.raises(BackendUnavailableError, match="unknown backend 'cuda'"):
        choose_backend("cuda")

