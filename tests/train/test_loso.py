"""`painmon train loso` and `painmon train export` end to end on a tiny synthetic twin, killed and resumed."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.errors import PainmonError
from engine.model_card import read_applicability
from tests.helpers import ROOT, painmon_command, save_random_checkpoint, tiny_config
from train.config import load_config
from train.export import export_run
from train.loso import run_loso

CPU = torch.device("cpu")


@pytest.fixture
def twin(tiny_twin: Path) -> Path:
    return tiny_twin


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tiny_config(tmp_path)


def env() -> dict[str, str]:
    # One intra-op thread: this machine's two cores are shared with other jobs.
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def subjects_of(twin: Path) -> list[str]:
    return sorted(p.name for p in (twin / "Images").iterdir())


@pytest.mark.slow
def test_loso_is_killed_mid_fold_then_resumes_and_writes_predictions_report_and_export(
    twin: Path, config: Path, tmp_path: Path
) -> None:
    first, second, third = subjects_of(twin)
    run = tmp_path / "run"
    command = painmon_command("train", "loso", "--data", twin, "--config", config, "--out", run,
                      "--folds", first, second, "final")
    snapshot = run / "folds" / second / "snapshot.safetensors"
    proc = subprocess.Popen(command, cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while not snapshot.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    output = proc.communicate()[0].decode(errors="replace")
    assert proc.returncode == -signal.SIGKILL, output
    assert (run / "folds" / first / "predictions.csv").exists()
    assert not (run / "folds" / second / "predictions.csv").exists()
    first_model = (run / "folds" / first / "model.safetensors").stat().st_mtime_ns

    resumed = subprocess.run(command, cwd=ROOT, env=env(), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"fold {second} (2/3): resuming from {snapshot}" in resumed.stdout
    assert (run / "folds" / first / "model.safetensors").stat().st_mtime_ns == first_model  # not retrained
    assert not snapshot.exists()

    with (run / "predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["subject", "sequence", "frame", "label", "prediction"]
    assert {r["subject"] for r in rows} == {first, second}
    with (run / "no_face.csv").open() as handle:
        no_face = {(r["subject"], r["sequence"], r["frame"]) for r in csv.DictReader(handle)}
    scored = {(r["subject"], r["sequence"], r["frame"]) for r in rows}
    all_frames = {(s, q.name, str(int(p.stem[-3:])))
                  for s in (first, second) for q in (twin / "Images" / s).iterdir() for p in q.iterdir()}
    black = {f for f in all_frames if f not in scored and f not in no_face}
    assert scored | no_face | black == all_frames and not scored & no_face
    assert len(black) <= 7  # the twin's black frames, which the loader drops
    predictions = np.array([float(r["prediction"]) for r in rows])
    assert np.all((predictions >= 0) & (predictions <= 5))
    assert {r["label"] for r in rows} <= {"0", "1", "2", "3", "4", "5"}

    report = (run / "report" / "report.md").read_text()
    assert "tiny test recipe (2 folds)" in report and "MAE" in report
    for subject in (first, second):
        assert (run / "report" / f"subject_{subject}.png").stat().st_size > 1000
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["folds"] == [first, second]
    assert set(metrics["per_subject_mean"]) == {"mae", "mse", "pcc", "icc", "wmae", "wmse"}
    assert (run / "folds" / "final" / "model.safetensors").exists()
    assert not (run / "folds" / third).exists()

    exported = tmp_path / "deploy" / "model.safetensors"
    result = subprocess.run(painmon_command("train", "export", run, "--out", exported), cwd=ROOT, env=env(),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    model, card = load_checkpoint(exported)
    assert card.clinical_use is False and "NOT FOR CLINICAL USE" in card.intended_use
    assert card.metrics["synthetic_data"] is True
    assert card.metrics["held_out_subjects"] == [first, second]
    assert card.metrics["per_subject_mean"]["mae"] == pytest.approx(metrics["per_subject_mean"]["mae"])
    assert card.config["name"] == "tiny test recipe" and card.config["iterations"] == 40
    assert "synthetic" in card.trained_on and card.input_size == (56, 48)
    assert model(torch.zeros(2, 3, 56, 48)).shape == (2,)
    assert card.applicability["subjects"] == 3 and card.applicability["data"] == [
        "synthetic twin (painmon train synth --subjects 3 --frames 40 --seed 1)"]
    assert read_applicability(exported) is not None


def test_resuming_with_another_config_or_an_unknown_fold_is_refused(
    twin: Path, config: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"data": str(twin.resolve()), "config": {"name": "other"},
                                              "iterations": 40}))
    with pytest.raises(PainmonError, match="was started with another config"):
        run_loso(twin, load_config(config), run, device=CPU, progress=False)
    with pytest.raises(PainmonError, match=f"unknown fold\\(s\\) nobody: .*{subjects_of(twin)[0]}"):
        run_loso(twin, load_config(config), tmp_path / "new", folds=["nobody"], device=CPU, progress=False)


def _broken_twin_description(root: Path) -> Path:
    (root / "twin.json").write_text('{"synthetic_twin": tru')
    return root / "twin.json"


def _twin_description_without_its_seed(root: Path) -> Path:
    (root / "twin.json").write_text('{"synthetic_twin": true, "subjects": 3, "frames_per_subject": 40}')
    return root / "twin.json"


def _one_pixel_frame(root: Path) -> Path:
    image = sorted((root / "Images").glob("*/*/*.png"))[5]
    cv2.imwrite(str(image), np.zeros((1, 1, 3), np.uint8))
    return image


@pytest.mark.parametrize(("damage", "reason"), [
    (_broken_twin_description, "is not a readable synthetic twin description (Expecting"),
    (_twin_description_without_its_seed, "is not a synthetic twin description (it needs whole numbers"),
    (_one_pixel_frame, "image too small to be a video frame"),
], ids=["broken twin.json", "twin.json without its seed", "1×1 image"])
def test_a_damaged_data_set_is_refused_in_one_line_before_the_run_starts(
    twin: Path, config: Path, tmp_path: Path, damage: Callable[[Path], Path], reason: str
) -> None:
    root = Path(shutil.copytree(twin, tmp_path / "twin"))
    victim = damage(root)
    result = subprocess.run(painmon_command("train", "loso", "--data", root, "--config", config, "--out",
                                            tmp_path / "run"), cwd=ROOT, capture_output=True, text=True,
                            env=env(), timeout=600)
    error = result.stderr.splitlines()[-1]  # after the progress bars of reading the data set
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert error.startswith("painmon: error: ") and reason in error and str(victim) in error
    assert not (tmp_path / "run").exists()


def test_export_needs_a_finished_run(tmp_path: Path) -> None:
    with pytest.raises(PainmonError, match="not a LOSO run folder"):
        export_run(tmp_path)
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(PainmonError, match="no all-subjects model"):
        export_run(tmp_path)


def test_export_of_a_run_with_a_damaged_record_is_refused_naming_it(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "folds" / "final").mkdir(parents=True)
    save_random_checkpoint(run / "folds" / "final" / "model.safetensors")
    (run / "predictions.csv").write_text("subject,sequence,frame,label,prediction\nA,s,1,0,0.5\n")
    for record, reason in (('{"twin": nul', "is not a readable run record"),
                           ('{"twin": null, "config": {}}', r"is not a run record of .* \(no 'data'\)"),
                           ("[]", "is not a run record of painmon train loso")):
        (run / "run.json").write_text(record)
        with pytest.raises(PainmonError, match=reason) as error:
            export_run(run)
        assert str(run / "run.json") in str(error.value) and "\n" not in str(error.value)
    assert not (run / "model.safetensors").exists()
