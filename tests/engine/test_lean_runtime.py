"""The CPU runtime without PyTorch: `painmon analyze` and `--self-test` run where torch, torchvision,
facenet-pytorch and onnx cannot be imported (the `without_torch` fixture blocks them, as a CPU install
without the train / gpu extras lacks them), and what needs them says so in one line. A model's ONNX graph
beside it is used only when it was made from that very checkpoint."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys

import numpy as np
import onnxruntime as ort

from engine import paths
from engine.applicability import APPLICABLE
from engine.backends import create_predictor
from engine.files import file_sha256
from engine.model_onnx import EXPORT_VERSION, SOURCE_KEY, VERSION_KEY, beside
from engine.status import FrameStatus
from tests.helpers import ROOT, run_painmon, save_random_checkpoint

CONFIG = ROOT / "train" / "configs" / "demo.toml"


def test_analyze_runs_without_the_pytorch_stack(without_torch, clips_dir, tmp_path):
    """Every frame's face found, aligned and judged by the demo model (which does not apply to real faces:
    it was trained on rendered ones, so no scores here; the self-test below checks those)."""
    out = tmp_path / "scores.csv"
    result = run_painmon("analyze", clips_dir / "single_face.mp4", "--out", out, "--quiet", env=without_torch)
    assert result.returncode == 0, result.stderr
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(row for row in handle if not row.startswith("#")))
    assert len(rows) == 72
    assert {row["status"] for row in rows} == {FrameStatus.NOT_APPLICABLE.value}
    assert all(0.0 <= float(row["applicability"]) < APPLICABLE for row in rows)


def test_self_test_passes_without_the_pytorch_stack(without_torch):
    result = run_painmon("--self-test", env=without_torch)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "backend: onnx on cpu" in result.stdout and "self-test passed" in result.stdout


def test_what_needs_pytorch_says_so_in_one_line_without_it(without_torch, clips_dir, tmp_path):
    commands = [
        ("analyze", clips_dir / "single_face.jpg", "--out", tmp_path / "s.csv", "--backend", "torch"),
        ("--self-test", "--backend", "torch"),
        ("train", "loso", "--data", tmp_path, "--config", CONFIG, "--out", tmp_path / "run"),
        ("engine", "onnx", paths.DEMO_MODEL),
    ]
    for command in commands:
        result = run_painmon(*command, env=without_torch)
        assert result.returncode == 2, (command, result.stderr)
        [line] = result.stderr.splitlines()
        assert "needs the PyTorch stack" in line and "painmon[gpu]" in line and "painmon[train]" in line, line


def test_a_model_without_its_graph_beside_it_is_refused_in_one_line_without_pytorch(without_torch, clips_dir,
                                                                                    tmp_path):
    model = shutil.copy(paths.DEMO_MODEL, tmp_path / "model.safetensors")
    result = run_painmon("analyze", clips_dir / "single_face.jpg", "--out", tmp_path / "s.csv",
                         "--model", model, env=without_torch)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("painmon:")]
    assert "no ONNX graph beside it" in line and "painmon engine onnx" in line, line


def test_the_shipped_demo_graph_is_the_demo_models():
    """Catches a demo model retrained without its graph made again (`painmon engine onnx`)."""
    metadata = ort.InferenceSession(str(beside(paths.DEMO_MODEL))).get_modelmeta().custom_metadata_map
    assert metadata[SOURCE_KEY] == file_sha256(paths.DEMO_MODEL)
    assert metadata[VERSION_KEY] == str(EXPORT_VERSION)
    onnx = create_predictor(paths.DEMO_MODEL, backend="onnx")
    assert onnx.onnx_path == beside(paths.DEMO_MODEL)
    faces = np.random.default_rng(0).integers(0, 256, (5, *onnx.input_size, 3), dtype=np.uint8)
    reference = create_predictor(paths.DEMO_MODEL, backend="torch", device="cpu").predict_outputs(faces)
    scored = onnx.predict_outputs(faces)
    np.testing.assert_allclose(scored.scores, reference.scores, atol=1e-4)
    largest = np.abs(reference.features).max()
    np.testing.assert_allclose(scored.features, reference.features, atol=1e-4 * largest)


def test_engine_onnx_writes_the_graph_beside_and_a_graph_of_another_checkpoint_is_not_used(tmp_path):
    model = save_random_checkpoint(tmp_path / "model.safetensors", seed=1)
    result = run_painmon("engine", "onnx", model)
    assert result.returncode == 0, result.stderr
    assert create_predictor(model, backend="onnx").onnx_path == beside(model)

    save_random_checkpoint(model, seed=2)  # retrained in place: the graph beside it is the old model's
    predictor = create_predictor(model, backend="onnx")
    assert predictor.onnx_path != beside(model)
    faces = np.random.default_rng(0).integers(0, 256, (3, *predictor.input_size, 3), dtype=np.uint8)
    reference = create_predictor(model, backend="torch", device="cpu").predict(faces)
    np.testing.assert_allclose(predictor.predict(faces), reference, atol=1e-4)


def test_a_damaged_graph_beside_the_model_is_passed_over(tmp_path):
    model = save_random_checkpoint(tmp_path / "model.safetensors", seed=1)
    beside(model).write_bytes(b"not an onnx graph")
    predictor = create_predictor(model, backend="onnx")
    assert predictor.onnx_path != beside(model)
    assert predictor.predict(np.zeros((1, *predictor.input_size, 3), np.uint8)).shape == (1,)


def test_choosing_the_backend_on_a_machine_without_a_gpu_does_not_import_torch():
    """The CUDA driver is asked first: importing torch to learn there is no GPU cost seconds and ~700 MB."""
    code = ("import sys; from engine.backends.select import choose_backend; "
            "print(choose_backend('auto').backend, 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.stdout.split() == ["onnx", "False"], result.stderr
