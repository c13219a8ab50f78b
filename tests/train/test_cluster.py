"""Folds as Ray tasks on a local Ray cluster of 2 CPUs (no GPU): the same bytes as the local run, a failing
fold retried then reported while the others finish, a killed driver resumed without redoing finished folds."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import ray
import torch

from tests.helpers import ROOT, FailingFaces, painmon_command, tiny_config
from train.cluster import RayExecutor
from train.config import load_config
from train.fold import FoldInputs, done_marker, fold_files
from train.grid import run_grid
from train.loso import jobs_of, prepare_run, run_loso
from train.unbc import load_unbc

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A local Ray cluster of 2 CPUs for the module; its address."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def test_a_loso_run_on_ray_gives_the_local_runs_bytes(
    cluster: str, tiny_twin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = load_config(tiny_config(tmp_path))
    local = run_loso(tiny_twin, config, tmp_path / "local", device=CPU, iterations=6, progress=False)
    remote = run_loso(tiny_twin, config, tmp_path / "ray", device=CPU, iterations=6, progress=True,
                      executor=RayExecutor(cluster))
    assert not local.failed and not remote.failed
    assert sorted(remote.trained) == sorted(local.trained) == sorted([*local.finished, "final"])
    for fold in local.trained:
        assert fold_files(tmp_path / "ray" / "folds" / fold) == fold_files(tmp_path / "local/folds" / fold)
    for name in ("predictions.csv", "metrics.json"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    out = capsys.readouterr().out
    assert "ray: 1 input(s) in the object store" in out
    assert "fold final (4/4): done in " in out and "as the driver saw it" in out


def test_a_fold_that_raises_on_ray_is_retried_then_reported_while_the_others_finish(
    cluster: str, tiny_twin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = load_config(tiny_config(tmp_path))
    run = prepare_run(load_unbc(tiny_twin, progress=False), config, tmp_path / "run", None, iterations=4,
                      progress=False)
    victim = run.subjects[0]
    faces = FailingFaces(run.inputs.aligned.packed(), np.flatnonzero(run.inputs.frames.subject == victim))
    result = run_grid(jobs_of(run), {run.inputs_key: FoldInputs(run.inputs.frames, faces)},
                      RayExecutor(cluster), retries=1)
    assert [failure.job.unit.fold for failure in result.failed] == [victim]
    assert result.failed[0].error.endswith(FailingFaces.MESSAGE)
    assert sorted(job.unit.fold for job in result.done) == sorted(set(run.wanted) - {victim})
    assert all((job.folder / "model.safetensors").exists() for job in result.done)
    assert not (tmp_path / "run" / "folds" / victim).exists()
    out = capsys.readouterr().out
    assert f"fold {victim} (1/4): attempt 1 failed (" in out and "retrying" in out
    assert f"fold {victim} (1/4): failed after 2 attempt(s): " in out


def done_folds(run: Path) -> dict[str, int]:
    """The run's finished folds and the modification time of the file that marks each done."""
    folders = run.glob("folds/*")
    return {f.name: done_marker(f, f.name).stat().st_mtime_ns for f in folders
            if done_marker(f, f.name).exists()}


def test_a_killed_ray_driver_resumes_without_redoing_finished_folds(
    cluster: str, tiny_twin: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    command = painmon_command("train", "loso", "--data", tiny_twin, "--config", tiny_config(tmp_path),
                              "--out", run, "--iterations", "30", "--ray", cluster)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    driver = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while not done_folds(run) and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    output = driver.communicate()[0].decode(errors="replace")
    assert driver.returncode == -signal.SIGKILL, output
    finished = done_folds(run)
    assert 1 <= len(finished) < 4, output

    resumed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    for fold, mtime in finished.items():
        assert done_marker(run / "folds" / fold, fold).stat().st_mtime_ns == mtime  # not redone
        assert f"fold {fold} (" not in resumed.stdout
    assert len(done_folds(run)) == 4
    assert "4 folds finished" not in resumed.stdout and "3 folds finished" in resumed.stdout
