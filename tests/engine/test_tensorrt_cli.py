"""`painmon engine build|verify|info` as a user runs them, on this machine (no GPU, no TensorRT)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.checkpoint import card_for, save_checkpoint
from engine.model import PainRegressor
from engine.tensorrt.cache import PlanCache, PlanKey
from engine.tensorrt.profiles import ONET
from tests.helpers import run_painmon


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = PainRegressor("face_cnn_small").eval()
    card = card_for(model, name="small", version="0", trained_on="random weights")
    return save_checkpoint(tmp_path / "small.safetensors", model, card)


def test_info_reports_what_this_machine_has_and_the_cached_plans():
    key = PlanKey("onet", "ab" * 32, "10.13.0", "NVIDIA H100 80GB HBM3", "9.0", "fp16", ONET)
    PlanCache().store(key, b"plan bytes", {"built": "2026-11-25T04:00:00+00:00"})
    result = run_painmon("engine", "info")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("GPU:          none — torch ")
    assert lines[1].startswith("TensorRT:     TensorRT not installed")
    assert "pip install tensorrt-cu13" in lines[1]
    assert lines[2].startswith("ONNX Runtime: ") and "CPUExecutionProvider" in lines[2]
    assert lines[3] == "auto backend: ONNX Runtime on the CPU"
    assert lines[4] == f"plans:        1 in {PlanCache().root}"
    plan = PlanCache().plan_path(key).name
    assert lines[5] == (f"  onet      fp16  NVIDIA H100 80GB HBM3 (sm 9.0)  TensorRT 10.13.0  "
                        f"built 2026-11-25T04:00:00+00:00  {plan}")


def test_build_without_tensorrt_is_one_clear_line(checkpoint):
    result = run_painmon("engine", "build", str(checkpoint), "--precision", "fp16")
    assert result.returncode == 2
    assert result.stderr.startswith("painmon: error: TensorRT not installed")
    assert len(result.stderr.strip().splitlines()) == 1


def test_verify_of_a_missing_model_is_bad_input(tmp_path):
    result = run_painmon("engine", "verify", str(tmp_path / "nope.safetensors"))
    assert result.returncode == 2
    assert result.stderr.startswith("painmon: error:") and "nope.safetensors" in result.stderr


@pytest.mark.slow
def test_verify_prints_the_parity_of_every_backend_here(checkpoint):
    result = run_painmon("engine", "verify", str(checkpoint))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("TensorRT: TensorRT not installed")
    rows = [line.split() for line in lines[1:-1]]
    assert {(row[0], row[2], row[3]) for row in rows} == {
        (network, "onnxruntime", precision)
        for network in ("regressor", "pnet", "rnet", "onet") for precision in ("fp32", "fp16")}
    assert len(rows) == 18 and all(row[-1] == "ok" for row in rows)  # the regressor's scores and features
    assert lines[-1] == "18 of 18 within tolerance"
