"""benchmarks/methods.py plumbing on the tiny twin: rows in parallel, skipped rows, the table, resuming,
several solver seeds."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchmarks.methods import CONFIGS, available, cpu_sized, main
from engine.paths import DEMO_MODEL
from train.config import load_config
from train.evaluate import read_predictions
from train.metrics import evaluate
from train.sweep import with_seed


def test_rows_become_the_cpu_model_with_their_own_stages_scaled_alike() -> None:
    demo = load_config(CONFIGS / "demo.toml")
    fn2en = cpu_sized(load_config(CONFIGS / "fn2en.toml"), demo, (56, 48), 300)
    assert fn2en.model.input_size == (56, 48) and fn2en.model.backbone == demo.model.backbone
    assert fn2en.solver == demo.solver
    assert fn2en.fn2en.iterations == 300  # 5000 of 5000 in the config, like the final stage
    assert (fn2en.fn2en.teacher_checkpoint, fn2en.fn2en.teacher_layer) == (str(DEMO_MODEL), "")
    assert fn2en.loss == load_config(CONFIGS / "fn2en.toml").loss
    row = cpu_sized(load_config(CONFIGS / "l1_softmax.toml"), demo, (56, 48), 300)
    assert (row.loss.regression, row.loss.regularizer, row.model.input_size) == ("l1", "softmax", (56, 48))
    assert with_seed(row, 7).solver == replace(demo.solver, seed=7)
    assert available("no_such_row") == (None, "no train/configs/no_such_row.toml on this branch")


def test_two_rows_run_in_parallel_print_one_table_then_resume(
    tiny_twin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--twin", str(tiny_twin), "--out", str(tmp_path), "--iterations", "5",
            "--rows", "smooth_l1", "no_such_row", "fn2en"]
    assert main(args) == 0  # two folds at a time by default
    out = capsys.readouterr().out
    assert "skipped no_such_row: no train/configs/no_such_row.toml" in out
    lines = [line for line in out.splitlines() if line.startswith("| ")]
    assert lines[0] == ("| method | MAE | MSE | PCC | ICC | wMAE | wMSE | all-zeros wMAE ÷ wMAE | minutes |")
    names = [line.split(" | ")[0][2:] for line in lines[1:]]
    fn2en = f"{load_config(CONFIGS / 'fn2en.toml').name} [face net here: the demo model]"
    assert names == [load_config(CONFIGS / "smooth_l1.toml").name, fn2en, "all zeros (same frames)"]
    assert lines[-1].split(" | ")[-2] == "1.00×"  # all zeros against itself
    assert out.count("3 newly trained folds") == 2
    assert "winner by wMAE: " in out and "by PCC: " in out
    for row in ("smooth_l1", "fn2en"):
        assert len((tmp_path / row / "seed0" / "predictions.csv").read_text().splitlines()) > 100

    record = tmp_path / "smooth_l1" / "seed0" / "run.json"
    record.write_text(record.read_text().replace('"smooth-L1"', '"another recipe"'))
    assert main([*args, "--jobs", "1"]) == 0  # fn2en is done and not trained again; smooth_l1 fails alone
    out = capsys.readouterr().out
    assert "row smooth_l1 (seed0) failed: " in out and "was started with another config" in out
    assert out.count("0 newly trained folds") == 1
    assert [line.split(" | ")[0][2:] for line in out.splitlines() if line.startswith("| ")][1:] == [
        fn2en, "all zeros (same frames)"]


def test_several_solver_seeds_give_their_mean_and_each_rows_wmae_range(
    tiny_twin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = ("smooth_l1", "l1_l1center")
    assert main(["--twin", str(tiny_twin), "--out", str(tmp_path), "--iterations", "5", "--rows", *rows,
                 "--solver-seeds", "0", "1"]) == 0
    out = capsys.readouterr().out
    header, *lines = [line for line in out.splitlines() if line.startswith("| ")]
    assert header.endswith("| all-zeros wMAE ÷ wMAE | wMAE over seeds | minutes |")
    cells = {line.split(" | ")[0][2:]: line.split(" | ")[1:] for line in lines}
    seeds = {row: [read_predictions(tmp_path / row / f"seed{s}" / "predictions.csv") for s in (0, 1)]
             for row in rows}
    for row in rows:
        frames = seeds[row]
        assert not np.array_equal(frames[0].prediction, frames[1].prediction)  # the seed changes the run
        wmae = [evaluate(f.subject, f.label, f.prediction).per_subject_mean.wmae for f in frames]
        row_cells = cells[load_config(CONFIGS / f"{row}.toml").name]
        assert row_cells[4] == f"{np.mean(wmae):.3f}"  # the mean over seeds
        assert row_cells[7] == f"{min(wmae):.3f}–{max(wmae):.3f}"
    assert cells["all zeros (same frames)"][7] == "—"
    assert "winner by wMAE: " in out and re.search(r"is (clear of|overlapping) the runner-up's", out)
