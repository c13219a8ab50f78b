"""Method `au` (paper 003): LOSO end to end on the tiny twin through the CLI, checkpoint reload, and a member
resumed after a kill mid-training."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine.au import DEFAULT_AUS, AUPainModel
from engine.backbone_specs import BACKBONES
from engine.checkpoint import load_checkpoint
from engine.errors import PainmonError
from engine.model_card import read_applicability
from tests.helpers import ROOT, KilledError
from train.align_cache import AlignSettings, build_cache
from train.au_predictions import AUPredictions, read_au_predictions, write_au_predictions
from train.config import config_from_dict, load_config
from train.export import export_run
from train.methods import METHODS, TrainingSet
from train.methods.au import mean_intensity, predict_aus, validation_mask
from train.multilabel import au_labels
from train.unbc import load_unbc

CPU = torch.device("cpu")
SIZE = (56, 48)
TINY_AU = """\
name = "tiny AU recipe"
method = "au"
[model]
input_size = [56, 48]
[solver]
lr = 0.01
batch_size = 16
iterations = 12
snapshot_every = 4
[au]
members = ["face_cnn_small", "face_cnn_small"]
validation_subjects = 1
"""


def subjects_of(twin: Path) -> list[str]:
    return sorted(p.name for p in (twin / "Images").iterdir())


def test_au_loso_writes_scores_au_outputs_metrics_and_report_and_the_checkpoint_reloads(
    tiny_twin: Path, tmp_path: Path
) -> None:
    first = subjects_of(tiny_twin)[0]
    config = tmp_path / "au.toml"
    config.write_text(TINY_AU)
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "app", "train", "loso", "--data", str(tiny_twin), "--config", str(config),
         "--out", str(run), "--folds", first, "final"],
        cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 folds finished" in result.stdout

    with (run / "predictions.csv").open() as handle:
        predictions = list(csv.DictReader(handle))
    assert {r["subject"] for r in predictions} == {first}
    scores = np.array([float(r["prediction"]) for r in predictions])
    assert np.all((scores >= 0) & (scores <= 5))

    fold = run / "folds" / first
    aus = read_au_predictions(fold / "aus.csv")
    assert aus.au_numbers == DEFAULT_AUS
    keys = [(r["sequence"], int(r["frame"])) for r in predictions]
    assert list(zip(aus.sequence, aus.frame.tolist(), strict=True)) == keys
    dataset = load_unbc(tiny_twin, progress=False)
    coded = {(r.sequence, r.frame): r.aus for r in dataset.frames if r.subject == first}
    facs = np.array([[coded[key].get(a, 0.0) for a in DEFAULT_AUS] for key in keys], dtype=np.float32)
    np.testing.assert_array_equal(aus.label, au_labels(facs, DEFAULT_AUS, 0.0))
    assert 0 < np.nansum(aus.label) < aus.label.size

    model, card = load_checkpoint(fold / "model.safetensors")
    assert isinstance(model, AUPainModel) and card.aus == list(DEFAULT_AUS)
    assert card.members == [{"backbone": "face_cnn_small", "pretrained": None}] * 2
    thresholds = model.thresholds.numpy()
    assert not np.all(thresholds == 0.5)  # searched on the held-out training subject
    np.testing.assert_array_equal(aus.present, aus.probability >= thresholds)
    cache = build_cache(dataset.frames, dataset.root, AlignSettings(SIZE, 40), progress=False)
    rows = np.flatnonzero(cache.found & np.array([r.subject == first for r in dataset.frames]))
    reloaded_scores, reloaded_probs = predict_aus(model, cache.crops, rows, device=CPU)
    np.testing.assert_array_equal(reloaded_scores.astype(np.float64), scores)
    np.testing.assert_array_equal(reloaded_probs.astype(np.float64), aus.probability)

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["folds"] == [first]
    per_au = metrics["aus"]["per_au"]
    assert list(per_au) == [f"AU{a}" for a in DEFAULT_AUS]
    expected = aus.scores()
    for k, name in enumerate(per_au):
        assert per_au[name]["accuracy"] == pytest.approx(expected.accuracy[k])
        assert per_au[name]["positives"] == int(np.nansum(aus.label[:, k]))
    assert metrics["aus"]["thresholds"][first] == pytest.approx(
        dict(zip(per_au, thresholds.tolist(), strict=True)))
    assert 0 <= metrics["aus"]["average"]["mean"] <= 1
    report = (run / "report" / "report.md").read_text()
    assert "## Action units" in report and "| AU4 |" in report and "average over AUs" in report
    assert (run / "report" / "au_scores.png").stat().st_size > 1000
    assert read_au_predictions(run / "aus.csv").frame.tolist() == aus.frame.tolist()
    assert not list((run / "folds" / "final").glob("*snapshot*"))
    deployed, deployed_card = load_checkpoint(export_run(run))
    assert isinstance(deployed, AUPainModel)
    assert deployed_card.metrics["aus"] == metrics["aus"]
    description = read_applicability(run / "model.safetensors")  # its training faces, as for a regressor
    assert description is not None and deployed_card.applicability["threshold"] == description.threshold
    assert len(description.mean) == BACKBONES[deployed_card.backbone].described_dim


def twin_set(twin: Path) -> TrainingSet:
    """The twin's frames as a TrainingSet, images resized to SIZE (no face alignment: speed)."""
    frames = [r for r in load_unbc(twin, progress=False).frames]
    crops = np.stack([cv2.resize(cv2.imread(str(r.image))[:, :, ::-1], SIZE[::-1]) for r in frames])
    aus = np.array([[r.aus.get(a, 0.0) for a in DEFAULT_AUS] for r in frames], dtype=np.float32)
    n = len(frames)
    return TrainingSet(lambda rows: crops[rows], np.arange(n), np.array([r.level for r in frames]),
                       np.array([r.subject for r in frames]), DEFAULT_AUS, aus,
                       np.zeros((n, 5, 2), dtype=np.float32))


def test_a_killed_fold_resumes_each_member_from_its_snapshot_and_skips_finished_members(
    tiny_twin: Path, tmp_path: Path
) -> None:
    config = config_from_dict({"name": "resume", "method": "au", "model": {"input_size": list(SIZE)},
                               "solver": {"lr": 0.01, "batch_size": 8, "iterations": 12, "snapshot_every": 4},
                               "au": {"members": ["face_cnn_small"] * 2, "validation_subjects": 1}})
    method = METHODS["au"]
    data = twin_set(tiny_twin)
    reads = []

    def reader(kill_after: int | None):
        def read(rows: np.ndarray) -> np.ndarray:
            reads.append(len(rows))
            if kill_after is not None and len(reads) > kill_after:
                raise KilledError
            return data.images(rows)
        return read

    def train(folder: Path, kill_after: int | None = None) -> AUPainModel:
        model = method.new_model(config)
        folder.mkdir(exist_ok=True)
        method.train(model, config, replace(data, images=reader(kill_after)), device=CPU, iterations=12,
                     folder=folder, progress=None)
        return model

    reference = train(tmp_path / "reference")
    folder = tmp_path / "killed"
    reads.clear()
    with pytest.raises(KilledError):
        train(folder, kill_after=12 + 6)  # member 1 finished, member 2 in its 7th iteration
    assert sorted(p.name for p in folder.iterdir()) == ["member0_snapshot.safetensors",
                                                        "member1_snapshot.safetensors"]
    reads.clear()
    resumed = train(folder)
    assert reads[:8] == [8] * 8 and len(reads) == 8 + 1  # member 2 from iteration 4, then validation
    assert not list(folder.iterdir())
    for key, value in reference.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key

    labels = au_labels(data.aus, DEFAULT_AUS, 0.0)
    np.testing.assert_allclose(resumed.intensity.numpy(), mean_intensity(data.aus, labels))
    held_out = validation_mask(data.subjects, 1, seed=0)
    assert len(set(data.subjects[held_out])) == 1
    with pytest.raises(PainmonError, match="validation_subjects = 3 leaves no subject"):
        validation_mask(data.subjects, 3, seed=0)


def test_mean_intensity_is_per_au_over_present_frames_and_1_for_absent_aus() -> None:
    aus = np.array([[2.0, 0.0, 1.0], [4.0, 0.0, 0.0], [0.0, 0.0, np.nan]], dtype=np.float32)
    labels = au_labels(aus, (4, 6, 43), 0.0)
    np.testing.assert_array_equal(mean_intensity(aus, labels), [3.0, 1.0, 1.0])


def test_au_csv_round_trips_probabilities_calls_and_unknown_labels(tmp_path: Path) -> None:
    probability = np.array([[0.1234567, 0.9], [0.5, 1 / 3]])
    present = np.array([[False, True], [True, True]])
    written = AUPredictions(np.array(["s", "s"]), np.array(["q", "q"]), np.array([1, 2]), (4, 43),
                            probability, present, np.array([[0.0, 1.0], [np.nan, 0.0]]))
    write_au_predictions(tmp_path / "aus.csv", written)
    read = read_au_predictions(tmp_path / "aus.csv")
    for name in ("subject", "sequence", "frame", "probability", "present", "label"):
        np.testing.assert_array_equal(getattr(read, name), getattr(written, name))
    assert read.au_numbers == (4, 43)


def test_the_papers_config_builds_two_inception_members_at_160x160() -> None:
    config = load_config(ROOT / "train" / "configs" / "au_pspi.toml")
    offline = replace(config, settings=replace(config.au, members=("inception_resnet_v1",) * 2))  # offline
    model = METHODS["au"].new_model(offline)
    assert isinstance(model, AUPainModel) and model.input_size == (160, 160) and len(model.members) == 2
    assert model.aus == config.au.aus
