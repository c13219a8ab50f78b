"""Job arrays on the tiny twin: `--plan`, each unit as its own `painmon train fold` process (index from
--index, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX), then `painmon train merge`: the local run's metrics."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from engine.errors import PainmonError
from tests.helpers import run_painmon, tiny_config
from train.arrays import array_index
from train.config import load_config
from train.loso import run_loso

CPU = torch.device("cpu")


def test_each_index_in_its_own_process_then_merge_gives_the_local_runs_metrics(
    tiny_twin: Path, tmp_path: Path
) -> None:
    config = tiny_config(tmp_path)
    run_loso(tiny_twin, load_config(config), tmp_path / "local", device=CPU, iterations=6, progress=False)
    array = tmp_path / "array"
    planned = run_painmon("train", "loso", "--data", tiny_twin, "--config", config, "--out", array,
                          "--iterations", "6", "--plan")
    assert planned.returncode == 0, planned.stderr
    assert "4 folds planned" in planned.stdout and "sbatch --array=0-3" in planned.stdout
    assert json.loads((array / "plan.json").read_text())["units"][3] == [0, "final"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for index, how in enumerate(([], ["SLURM_ARRAY_TASK_ID"], ["JOB_COMPLETION_INDEX"], [])):
        extra = {name: str(index) for name in how}
        arguments = [] if how else ["--index", index]
        result = run_painmon("train", "fold", array, *arguments, "--device", "cpu", env={**env, **extra})
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"unit {index}: . fold " in result.stdout
    again = run_painmon("train", "fold", array, "--index", "0", env=env)
    assert again.returncode == 0 and "is already done" in again.stdout
    merged = run_painmon("train", "merge", array, env=env)
    assert merged.returncode == 0, merged.stderr
    assert "3 of 4 folds done" not in merged.stdout and "4 of 4 folds done" in merged.stdout
    for name in ("metrics.json", "predictions.csv"):
        assert (array / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    assert (array / "folds" / "final" / "model.safetensors").read_bytes() == (
        tmp_path / "local" / "folds" / "final" / "model.safetensors").read_bytes()


def test_an_array_index_comes_from_the_option_or_the_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)
    monkeypatch.delenv("JOB_COMPLETION_INDEX", raising=False)
    with pytest.raises(PainmonError, match="no --index given and none of SLURM_ARRAY_TASK_ID"):
        array_index(None)
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "7")
    assert array_index(None) == 7 and array_index(2) == 2
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "5")
    assert array_index(None) == 5
