"""Method `saliency` (paper 002): its configs, the resumable pre-training, and LOSO end to end on the twin."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from engine.align import template_for
from engine.au import DEFAULT_AUS
from engine.checkpoint import load_checkpoint
from engine.errors import PainmonError
from tests.helpers import ROOT, KilledError, killed_after, painmon_command
from train.align_cache import AlignSettings, build_cache
from train.config import TrainConfig, config_from_dict
from train.loop import predict
from train.methods import METHODS, TrainingSet
from train.methods.saliency import SNAPSHOT, pretrain
from train.unbc import load_unbc

CPU = torch.device("cpu")
SIZE = (56, 48)
TINY = """\
name = "tiny saliency recipe"
method = "saliency"
[model]
backbone = "face_cnn_small"
input_size = [56, 48]
[loss]
regularizer = "center"
[sampling]
eliminate_redundant = true
uniform_classes = true
[solver]
lr = 0.01
batch_size = 12
iterations = 30
snapshot_every = 2
[saliency]
iterations = 30
patch = 7
"""


def _config(**saliency: object) -> TrainConfig:
    data = tomllib.loads(TINY)
    data["saliency"] |= saliency
    data["solver"] |= {"iterations": 6}
    return config_from_dict(data)


def _training_set(n: int = 60, seed: int = 0) -> tuple[TrainingSet, np.ndarray]:
    """Faces-to-be whose mouth area brightens with the level; AU intensities follow the level."""
    rng = np.random.default_rng(seed)
    levels = np.arange(n) % 3
    images = rng.integers(0, 60, (n, *SIZE, 3)).astype(np.uint8)
    images[:, 40:52, 12:36] += (60 * levels).astype(np.uint8)[:, None, None, None]
    aus = np.clip(levels[:, None] + rng.integers(-1, 2, (n, len(DEFAULT_AUS))), 0, 5).astype(np.float32)
    landmarks = template_for(SIZE)[None] + rng.normal(0, 1, (n, 5, 2)).astype(np.float32)
    rows = np.arange(n)
    data = TrainingSet(lambda r: images[r], rows, levels, np.array(["s"] * n), DEFAULT_AUS, aus, landmarks)
    return data, images


def _model(config: TrainConfig) -> torch.nn.Module:
    return METHODS["saliency"].new_model(config)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)


def test_pretraining_killed_after_a_snapshot_resumes_to_the_same_weights(tmp_path: Path) -> None:
    config = _config(iterations=7)
    data, images = _training_set()
    straight = _model(config)
    pretrain(straight, config, data, device=CPU, folder=tmp_path / "straight", progress=None)
    assert not torch.equal(straight.backbone[0][0].weight, _model(config).backbone[0][0].weight)

    folder = tmp_path / "killed"
    with pytest.raises(KilledError):  # in iteration 6
        pretrain(_model(config), config, replace(data, images=killed_after(lambda r: images[r], 5)),
                 device=CPU, folder=folder, progress=None)
    with safe_open(str(folder / SNAPSHOT), framework="pt") as f:
        assert f.metadata()["iteration"] == "4"
    resumed = _model(config)
    pretrain(resumed, config, data, device=CPU, folder=folder, progress=None)
    _same_weights(straight, resumed)


def test_a_finished_pretraining_is_not_redone_and_its_snapshot_goes_after_the_regression(
    tmp_path: Path,
) -> None:
    config = _config(iterations=5)
    data, images = _training_set()
    reads: list[np.ndarray] = []

    def reading(r: np.ndarray) -> np.ndarray:
        reads.append(r)
        return images[r]

    method = METHODS["saliency"]
    with pytest.raises(KilledError):  # in the regression's 4th iteration, after its snapshot at 2
        method.train(_model(config), config, replace(data, images=killed_after(reading, 5 + 3)), device=CPU,
                     iterations=6, folder=tmp_path, progress=None)
    with safe_open(str(tmp_path / SNAPSHOT), framework="pt") as f:
        assert f.metadata()["iteration"] == "5"  # complete
    assert (tmp_path / "snapshot.safetensors").exists()
    reads.clear()
    method.train(_model(config), config, replace(data, images=reading), device=CPU, iterations=6,
                 folder=tmp_path, progress=None)
    assert len(reads) == 6 - 2  # only the regression's iterations 3..6 ran again
    assert not list(tmp_path.glob("*snapshot*"))


def test_saliency_supervision_changes_what_the_global_loss_alone_learns(tmp_path: Path) -> None:
    data, _ = _training_set()
    with_local, global_only = _model(_config(iterations=3)), _model(_config(iterations=3, local=False))
    pretrain(with_local, _config(iterations=3), data, device=CPU, folder=tmp_path / "a", progress=None)
    pretrain(global_only, _config(iterations=3, local=False), data, device=CPU, folder=tmp_path / "b",
             progress=None)
    difference = (with_local.backbone[0][0].weight - global_only.backbone[0][0].weight).abs().max()
    assert difference > 1e-4
    torch.testing.assert_close(with_local.head[1].weight, global_only.head[1].weight)  # head untouched


def test_a_training_set_with_one_level_is_refused(tmp_path: Path) -> None:
    data, _ = _training_set()
    one = data.subset(data.levels == 0)
    with pytest.raises(PainmonError, match=r"at least two pain levels.*level\(s\): 0"):
        pretrain(_model(_config()), _config(), one, device=CPU, folder=tmp_path, progress=None)


@pytest.mark.slow
def test_loso_with_saliency_is_killed_in_pretraining_then_resumes(tiny_twin: Path, tmp_path: Path) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    first, second, _ = sorted(p.name for p in (tiny_twin / "Images").iterdir())
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = painmon_command("train", "loso", "--data", tiny_twin, "--config", config, "--out", run,
                      "--folds", first, second)
    snapshot = run / "folds" / second / SNAPSHOT
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while not snapshot.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    output = proc.communicate()[0].decode(errors="replace")
    assert proc.returncode == -signal.SIGKILL, output
    with safe_open(str(snapshot), framework="pt") as f:
        assert int(f.metadata()["iteration"]) < 30  # killed during the pre-training
    assert (run / "folds" / first / "predictions.csv").exists()
    assert not list((run / "folds" / first).glob("*snapshot*"))

    resumed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"fold {second} (2/2): resuming from {snapshot}" in resumed.stdout
    assert not list((run / "folds" / second).glob("*snapshot*"))

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["folds"] == [first, second] and metrics["config"] == "tiny saliency recipe"
    assert all(np.isfinite(v) for v in metrics["per_subject_mean"].values() if v is not None)
    with (run / "predictions.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["subject"] == first]
    written = np.array([float(r["prediction"]) for r in rows])
    assert len(written) > 20 and np.all((written >= 0) & (written <= 5))

    model, card = load_checkpoint(run / "folds" / first / "model.safetensors")
    assert card.config["method"] == "saliency" and card.config["saliency"]["patch"] == 7
    dataset = load_unbc(tiny_twin, progress=False)
    cache = build_cache(dataset.frames, dataset.root, AlignSettings(SIZE), progress=False)  # the run's cache
    held_out = np.flatnonzero(cache.found & (np.array([f.subject for f in dataset.frames]) == first))
    np.testing.assert_allclose(predict(model, cache.crops, held_out, device=CPU), written, atol=1e-5)
