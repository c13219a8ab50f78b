"""One fold as a pure unit (the same bytes on a rerun), the grid's retries and reported failures, and
`painmon train sweep` on the tiny twin: one run per (config, seed), a comparison table, resuming."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.errors import PainmonError
from tests.helpers import FailingFaces, tiny_config
from train.config import load_config
from train.fold import FOLD_CREATED, FoldInputs, FoldUnit, fold_files, run_fold
from train.grid import InProcess, Processes, run_grid
from train.loso import jobs_of, prepare_run
from train.sweep import COMPARISON, RunSpec, grid_specs, run_sweep
from train.unbc import load_unbc

CPU = torch.device("cpu")


def test_a_fold_run_twice_writes_the_same_bytes(tiny_twin: Path, tmp_path: Path) -> None:
    config = load_config(tiny_config(tmp_path))
    run = prepare_run(load_unbc(tiny_twin, progress=False), config, tmp_path / "run", None, iterations=6,
                      progress=False)
    unit = FoldUnit(config, 6, run.subjects[0])
    for folder in ("a", "b"):
        assert run_fold(unit, run.inputs, tmp_path / folder, device=CPU, label=folder, progress=False)
    first, second = fold_files(tmp_path / "a"), fold_files(tmp_path / "b")
    assert sorted(first) == ["model.safetensors", "predictions.csv"]
    assert first == second  # byte for byte, the checkpoint's card included
    assert load_checkpoint(tmp_path / "a" / "model.safetensors")[1].created == FOLD_CREATED
    assert not run_fold(unit, run.inputs, tmp_path / "a", device=CPU, label="a", progress=False)  # done


@pytest.mark.parametrize(("error", "attempts"), [(RuntimeError, 2), (PainmonError, 1)])
def test_a_fold_that_keeps_failing_is_retried_then_reported_while_the_others_finish(
    tiny_twin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], error: type[Exception], attempts: int
) -> None:
    config = load_config(tiny_config(tmp_path))
    run = prepare_run(load_unbc(tiny_twin, progress=False), config, tmp_path / "run", None, iterations=4,
                      progress=False)
    victim = run.subjects[1]
    faces = FailingFaces(run.inputs.aligned, np.flatnonzero(run.inputs.frames.subject == victim), error)
    inputs = {run.inputs_key: FoldInputs(run.inputs.frames, faces)}
    result = run_grid(jobs_of(run), inputs, InProcess(CPU, progress=False), retries=1)
    described = f"{error.__name__}: {FailingFaces.MESSAGE}"
    assert [(failure.job.unit.fold, failure.error) for failure in result.failed] == [(victim, described)]
    assert sorted(job.unit.fold for job in result.done) == sorted({*run.wanted} - {victim})
    out = capsys.readouterr().out
    retried = f"fold {victim} (2/4): attempt 1 failed ({described}); retrying" in out
    assert retried == (attempts == 2)  # painmon's own errors (bad input, divergence) are not retried
    assert f"fold {victim} (2/4): failed after {attempts} attempt(s)" in out
    assert "[3/4 done, 0 running, 1 failed, 0 waiting]" in out


def test_a_sweep_runs_configs_times_seeds_compares_them_and_resumes(
    tiny_twin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    smooth = load_config(tiny_config(tmp_path))
    plain = load_config(tiny_config(tmp_path, name="plain L1", regression="l1"))
    specs = grid_specs({"smooth": (smooth, None), "plain": (plain, None)}, [0, 1], tmp_path / "sweep")
    folds = sorted(p.name for p in (tiny_twin / "Images").iterdir())[:2]
    result = run_sweep(tiny_twin, specs, tmp_path / "sweep", executor=Processes(2, CPU), folds=folds,
                       iterations=4, progress=False)
    assert not result.refused and not result.grid.failed and len(result.grid.done) == 8
    for key in ("smooth", "plain"):
        for seed in (0, 1):
            run = tmp_path / "sweep" / key / f"seed{seed}"
            assert (run / "metrics.json").exists()
            assert all((run / "folds" / fold / "predictions.csv").exists() for fold in folds)
    assert (tmp_path / "sweep" / "smooth" / "seed0" / "predictions.csv").read_bytes() != (
        tmp_path / "sweep" / "smooth" / "seed1" / "predictions.csv").read_bytes()  # the seed changes the run
    table = (tmp_path / "sweep" / COMPARISON).read_text()
    rows = [line.split(" | ")[0][2:] for line in table.splitlines() if line.startswith("| ")]
    assert rows == ["method", "tiny test recipe", "plain L1", "all zeros (same frames)"]
    assert "wMAE over seeds" in table and "winner by wMAE: " in table

    again = run_sweep(tiny_twin, [*specs, RunSpec("other", plain, specs[0].out)], tmp_path / "sweep",
                      executor=InProcess(CPU), folds=folds, iterations=4, progress=False)
    assert not again.grid.done  # every fold was done
    assert "was started with another config" in next(iter(again.refused.values()))
    assert again.comparison.splitlines()[2].split(" | ")[-1] == "— |"  # nothing trained in this call
    capsys.readouterr()
