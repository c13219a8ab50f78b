"""A model with an AU head through the engine: ONNX export with two outputs, parity of both outputs with
PyTorch under ONNX Runtime and the fake TensorRT on real aligned faces, predictors that give AU
probabilities (and None for a regressor), frame results and the `painmon analyze` CSV with AU columns.

The AU model is an ensemble of two small CNNs with random weights whose batch-norm statistics come from the
real faces, so both outputs vary between faces.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto

from app.cli import main
from engine.au import DEFAULT_AUS
from engine.backends import create_predictor
from engine.checkpoint import load_checkpoint
from engine.frame_csv import CSV_COLUMNS, ResultCsvWriter, au_column
from engine.model_card import read_au_thresholds
from engine.model_onnx import INPUT_NAME
from engine.onnx_export import export_model
from engine.status import FrameStatus
from engine.tensorrt import EngineVerificationError
from engine.tensorrt.cache import PlanCache
from engine.tensorrt.engines import ensure_engines
from engine.tensorrt.gpu import Gpu
from engine.tensorrt.networks import NetworkSpec, network_inputs, regressor_network
from engine.tensorrt.verify import measure, onnxruntime_runner
from engine.types import FrameResult
from tests.engine import fake_tensorrt
from tests.helpers import onnx_types, save_random_au_checkpoint, save_random_checkpoint

AU_COLUMNS = tuple(au_column(au) for au in DEFAULT_AUS)
CPU = torch.device("cpu")
GPU = Gpu(0, "NVIDIA Fake 80GB", (9, 0))


@pytest.fixture(scope="module")
def faces(face_frames: list[np.ndarray]) -> torch.Tensor:
    """Eight real faces aligned for a 112×96 model (four frames, and mirrored), float32 N×3×h×w 0..255."""
    return network_inputs(face_frames[::3], (112, 96))["regressor"][0]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, faces: torch.Tensor) -> dict[str, Path]:
    """The random AU checkpoint and a random regressor, with one painmon cache for the module (exports)."""
    folder = tmp_path_factory.mktemp("au-models")
    return {"au": save_random_au_checkpoint(folder / "au.safetensors", faces),
            "regressor": save_random_checkpoint(folder / "regressor.safetensors"),
            "cache": folder / "cache"}


@pytest.fixture
def au_model(models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PAINMON_CACHE_DIR", str(models["cache"]))
    return models["au"]


@pytest.fixture
def regressor(models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PAINMON_CACHE_DIR", str(models["cache"]))
    return models["regressor"]


@pytest.fixture
def au_spec(au_model: Path) -> NetworkSpec:
    return regressor_network(au_model)


def test_au_model_exports_scores_and_aus_with_one_dynamic_batch(au_model: Path, regressor: Path,
                                                                 tmp_path: Path):
    model, card = load_checkpoint(au_model)
    graph = onnx.load(export_model(model, tmp_path / "au.onnx", max_batch=8)).graph
    (faces,) = graph.input
    batch = faces.type.tensor_type.shape.dim[0].dim_param
    assert faces.name == INPUT_NAME and batch
    shapes = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in graph.output}
    assert list(shapes) == ["scores", "aus", "features"]
    assert shapes == {"scores": [batch], "aus": [batch, len(card.aus)], "features": [batch, 160]}
    # PSPI → level is clamps and adds: no data-dependent indexing or rounding for TensorRT to trip on
    assert not {n.op_type for n in graph.node} & {"Floor", "GatherND", "GatherElements"}
    model, _ = load_checkpoint(regressor)
    graph = onnx.load(export_model(model, tmp_path / "regressor.onnx", max_batch=8)).graph
    assert [v.name for v in graph.output] == ["scores", "features"]


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_au_onnx_matches_pytorch_on_real_faces(au_spec: NetworkSpec, faces: torch.Tensor, precision: str):
    assert au_spec.output_names == ("scores", "aus", "features") and au_spec.scales == (5.0, 1.0, None)
    reference = [au_spec.reference(faces)]
    scores, aus = reference[0]["scores"], reference[0]["aus"]
    assert scores.shape == (8,) and aus.shape == (8, len(DEFAULT_AUS))
    assert np.ptp(scores) > 1e-3 and np.ptp(aus, axis=0).min() > 1e-3  # they vary between real faces
    parities = measure(au_spec, onnxruntime_runner(au_spec.onnx(precision)), [faces], reference,
                       backend="onnxruntime", precision=precision)
    assert [p.output for p in parities] == ["scores", "aus", "features"]
    for parity in parities:
        assert parity.ok, parity.line()
        if precision == "fp32":
            assert parity.max_abs <= 1e-5
        else:
            assert parity.max_abs > 1e-7  # FP16 weights do move the outputs, within the FP16 tolerance


def test_fp16_graph_keeps_both_au_heads_and_everything_after_them_in_fp32(au_spec: NetworkSpec):
    fp16 = onnx.load(au_spec.onnx("fp16"))
    types = onnx_types(fp16)
    assert {types[v.name] for v in [*fp16.graph.input, *fp16.graph.output]} == {TensorProto.FLOAT}
    gemms = [types[n.input[1]] for n in fp16.graph.node if n.op_type == "Gemm"]
    convs = {types[n.input[1]] for n in fp16.graph.node if n.op_type == "Conv"}
    assert gemms == [TensorProto.FLOAT, TensorProto.FLOAT]  # one AU head per member, FP32
    assert convs == {TensorProto.FLOAT16}
    sigmoids = [n for n in fp16.graph.node if n.op_type == "Sigmoid"]
    assert len(sigmoids) == 2 and all(types[n.output[0]] == TensorProto.FLOAT for n in sigmoids)


def test_predictors_give_aus_for_the_au_model_and_none_for_a_regressor(au_model: Path, regressor: Path,
                                                                        faces: torch.Tensor):
    uint8 = faces.permute(0, 2, 3, 1).to(torch.uint8).numpy()
    reference = create_predictor(au_model, "torch", "cpu")
    fast = create_predictor(au_model, "onnx")
    assert reference.aus == fast.aus == DEFAULT_AUS
    want, got = reference.predict_outputs(uint8), fast.predict_outputs(uint8)
    want_scores, want_aus, scores, aus = want.scores, want.aus, got.scores, got.aus
    assert aus is not None and want_aus is not None
    assert aus.dtype == np.float32 and aus.shape == (8, len(DEFAULT_AUS))
    assert got.features.shape == want.features.shape == (8, 160)  # the first member's described stages
    np.testing.assert_allclose(got.features, want.features, atol=1e-4 * np.abs(want.features).max())
    assert ((aus > 0) & (aus < 1)).all()
    np.testing.assert_allclose(scores, want_scores, atol=1e-4)
    np.testing.assert_allclose(aus, want_aus, atol=1e-5)
    with torch.no_grad():  # the probabilities are the ensemble's, in the order of its AUs
        _, direct = reference.model.forward_with_aus(torch.from_numpy(uint8).permute(0, 3, 1, 2).float())
    np.testing.assert_allclose(want_aus, direct.numpy(), atol=1e-6)
    for predictor in (reference, fast):
        np.testing.assert_array_equal(predictor.predict(uint8), predictor.predict_outputs(uint8).scores)
        empty = predictor.predict_outputs(uint8[:0])
        assert empty.scores.shape == (0,)
        assert empty.aus is not None and empty.aus.shape == (0, len(DEFAULT_AUS))
    for backend in ("torch", "onnx"):
        plain = create_predictor(regressor, backend, "cpu")
        prediction = plain.predict_outputs(uint8)
        assert plain.aus == () and prediction.aus is None and prediction.scores.shape == (8,)
        assert prediction.features.shape == (8, 160)


def test_au_thresholds_are_read_from_the_checkpoint(au_model: Path, regressor: Path):
    thresholds = read_au_thresholds(au_model)
    assert list(thresholds) == list(DEFAULT_AUS)
    np.testing.assert_allclose(list(thresholds.values()), np.linspace(0.3, 0.7, len(DEFAULT_AUS)), atol=1e-6)
    assert read_au_thresholds(regressor) == {}


def test_csv_has_one_probability_column_per_au_after_the_regressor_columns():
    face_result = FrameResult(0, 0.0, FrameStatus.OK, 2.5, aus={au: au / 100 for au in DEFAULT_AUS})
    handle = io.StringIO()
    writer = ResultCsvWriter(handle, DEFAULT_AUS)
    writer.write(face_result)
    writer.write(FrameResult(1, 0.1, FrameStatus.NO_FACE))
    header, first, gap = csv.reader(io.StringIO(handle.getvalue()))
    assert tuple(header) == CSV_COLUMNS + AU_COLUMNS
    assert AU_COLUMNS[:3] == ("au04", "au06", "au07") and AU_COLUMNS[-1] == "au43"
    assert first[len(CSV_COLUMNS):] == [f"{au / 100:.4f}" for au in DEFAULT_AUS]
    assert gap[len(CSV_COLUMNS):] == [""] * len(DEFAULT_AUS)


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def test_analyze_writes_au_columns_for_an_au_model_only(au_model: Path, regressor: Path, clips_dir: Path,
                                                        tmp_path: Path):
    threads = torch.get_num_threads()
    try:
        for name, model in (("au", au_model), ("regressor", regressor)):
            assert main(["analyze", str(clips_dir / "single_face.mp4"), "--model", str(model),
                         "--out", str(tmp_path / f"{name}.csv"), "--quiet"]) == 0
    finally:
        torch.set_num_threads(threads)  # analyze sets one thread for the process
    header, rows = read_rows(tmp_path / "au.csv")
    assert tuple(header) == CSV_COLUMNS + AU_COLUMNS and len(rows) == 72
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) >= 0.95 * 72
    probs = np.array([[float(r[c]) for c in AU_COLUMNS] for r in ok])
    assert ((probs > 0) & (probs < 1)).all() and np.ptp(probs, axis=0).min() > 0  # per frame, not constant
    assert all(r[c] == "" for r in rows if r["status"] != "ok" for c in AU_COLUMNS)
    assert all(0 <= float(r["score"]) <= 5 for r in ok)
    header, rows = read_rows(tmp_path / "regressor.csv")
    assert tuple(header) == CSV_COLUMNS and len(rows) == 72  # unchanged for a regressor


def test_frame_results_carry_aus_only_for_scored_frames(au_model: Path, clips_dir: Path):
    from engine.pipeline import Pipeline
    from engine.sources import open_source

    pipeline = Pipeline.from_checkpoint(au_model, "onnx")
    with open_source(clips_dir / "noface_face.mov") as source:
        results = list(pipeline.run(frame for frame, _ in zip(source, range(169), strict=False)))
    scored = [r for r in results if r.status is FrameStatus.OK]
    gaps = [r for r in results if r.status is not FrameStatus.OK]
    assert scored and gaps
    assert all(list(r.aus) == list(DEFAULT_AUS) and not math.isnan(r.score) for r in scored)
    assert all(r.aus is None and math.isnan(r.score) for r in gaps)


# -- TensorRT (the fake `tensorrt` module runs engines with ONNX Runtime on the CPU) ---------------------
@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> PlanCache:
    """The fake tensorrt module installed as `tensorrt`, and an empty plan cache."""
    fake_tensorrt.install(monkeypatch)
    return PlanCache(tmp_path / "plans")


@pytest.fixture
def frames(face_frames: list[np.ndarray]):
    """The frames new engines are verified on: real face frames."""
    return lambda: face_frames[::6]


def test_tensorrt_engine_of_an_au_model_has_both_outputs_verified(plans, au_model, au_spec, frames, faces):
    from engine.backends.tensorrt_backend import TensorRTPredictor

    engines = ensure_engines([au_spec], "fp16", GPU, frames=frames, device=CPU, cache=plans)
    assert [(p.output, p.ok) for p in engines.parities] == [("scores", True), ("aus", True),
                                                            ("features", True)]
    assert engines.nets["regressor"].output_names == ["scores", "aus", "features"]
    (entry,) = plans.entries()
    assert [p["output"] for p in entry["parity"]] == ["scores", "aus", "features"]

    predictor = TensorRTPredictor.from_engines(engines, au_model)
    assert predictor.aus == DEFAULT_AUS
    uint8 = faces.permute(0, 2, 3, 1).to(torch.uint8).numpy()
    prediction = predictor.predict_outputs(uint8)
    want = au_spec.reference(torch.from_numpy(uint8).permute(0, 3, 1, 2).float())
    np.testing.assert_allclose(prediction.scores, want["scores"], atol=0.05)  # FP16 tolerance, 0–5 scale
    np.testing.assert_allclose(prediction.aus, want["aus"], atol=0.01)  # and on probabilities
    empty = predictor.predict_outputs(uint8[:0])
    assert empty.scores.shape == (0,) and empty.aus is not None and empty.aus.shape == (0, len(DEFAULT_AUS))


def test_tensorrt_engine_with_wrong_aus_is_refused(plans, au_spec: NetworkSpec, frames):
    fake_tensorrt.state.output_error = 0.003  # within tolerance on the 0–5 score (0.0006 of its range) only
    with pytest.raises(EngineVerificationError) as refused:
        ensure_engines([au_spec], "fp16", GPU, frames=frames, device=CPU, cache=plans)
    message = str(refused.value)
    assert "TensorRT fp16 engine of regressor refused" in message
    assert "regressor aus tensorrt fp16" in message and " scores " not in message
    assert plans.entries() == []
