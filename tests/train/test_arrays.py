"""Job arrays on the tiny twin: `--plan`, each unit as its own `painmon train fold` process (index from
--index; docs/cluster's sbatch script with SLURM_ARRAY_TASK_ID; the Indexed Job manifest's command with
JOB_COMPLETION_INDEX), then `painmon train merge`: the local run's metrics, byte for byte."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from engine.errors import PainmonError
from tests.helpers import ROOT, painmon_command, run_painmon, tiny_config
from train.arrays import array_index
from train.config import load_config
from train.loso import run_loso

CPU = torch.device("cpu")


def test_each_index_in_its_own_process_then_merge_gives_the_local_runs_metrics(
    tiny_twin: Path, tmp_path: Path
) -> None:
    config = tiny_config(tmp_path)
    run_loso(tiny_twin, load_config(config), tmp_path / "local", device=CPU, iterations=6, progress=False)
    array, copy = tmp_path / "array", Path(shutil.copytree(tiny_twin, tmp_path / "twin"))
    planned = run_painmon("train", "loso", "--data", copy, "--config", config, "--out", array,
                          "--iterations", "6", "--plan")
    assert planned.returncode == 0, planned.stderr
    assert "4 folds planned" in planned.stdout and "sbatch --array=0-3" in planned.stdout
    assert json.loads((array / "plan.json").read_text())["units"][3] == [0, "final"]
    shutil.rmtree(copy)  # array tasks read the staged data only: no data set, no aligned-face cache
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT),
           "PAINMON_CACHE_DIR": str(tmp_path / "empty cache"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    manifest = yaml.safe_load((ROOT / "docs" / "cluster" / "painmon-fold-job.yaml").read_text())
    assert manifest["spec"]["completionMode"] == "Indexed"
    pod_command = manifest["spec"]["template"]["spec"]["containers"][0]["command"]
    assert pod_command[:3] == ["painmon", "train", "fold"]
    commands = {0: painmon_command("train", "fold", array, "--index", 0, "--device", "cpu"),
                1: ["bash", str(ROOT / "docs" / "cluster" / "painmon-fold.sbatch"), str(array)],
                2: [*pod_command[:-1], str(array)],
                3: painmon_command("train", "fold", array, "--index", 3)}
    scheduler = {1: {"SLURM_ARRAY_TASK_ID": "1", "SLURM_CPUS_PER_TASK": "1"},
                 2: {"JOB_COMPLETION_INDEX": "2"}}
    for index, command in commands.items():
        result = subprocess.run(command, cwd=ROOT, env={**env, **scheduler.get(index, {})},
                                capture_output=True, text=True, timeout=600)
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

    staged = next((array / "staged" / "0").glob("*.npy"))
    staged.write_bytes(staged.read_bytes()[:-1] + b"x")
    damaged = run_painmon("train", "fold", array, "--index", "0", env=env)
    assert damaged.returncode == 2 and f"{staged} is missing or not what --plan staged" in damaged.stderr


def test_an_array_index_comes_from_the_option_or_the_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)
    monkeypatch.delenv("JOB_COMPLETION_INDEX", raising=False)
    with pytest.raises(PainmonError, match="no --index given and none of SLURM_ARRAY_TASK_ID"):
        array_index(None)
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "7")
    assert array_index(None) == 7 and array_index(2) == 2
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "5")
    assert array_index(None) == 5
