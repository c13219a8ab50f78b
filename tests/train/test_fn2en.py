"""Method `fn2en` (paper 004) on real aligned crops of the tiny twin, with the demo model as the face net."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.au import DEFAULT_AUS
from engine.checkpoint import load_checkpoint
from engine.errors import ModelFileError
from engine.paths import DEMO_MODEL
from tests.helpers import ROOT, KilledError, killed_after, network_reachable
from train.align_cache import AlignedFrames, AlignSettings, build_cache
from train.config import (
    ConfigError,
    FN2ENConfig,
    ModelConfig,
    SamplingConfig,
    SolverConfig,
    TrainConfig,
    load_config,
)
from train.evaluate import read_predictions
from train.fold import FoldInputs, training_set
from train.loop import predict
from train.loso import run_loso
from train.methods import METHODS, Frames, TrainingSet
from train.methods.fn2en import STAGE_A_SNAPSHOT, distill, load_teacher, stage_a_parts
from train.methods.regression import new_regressor
from train.unbc import load_unbc

CPU = torch.device("cpu")
SIZE = (56, 48)


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One painmon cache folder for this module, so the twin is aligned once."""
    return tmp_path_factory.mktemp("painmon-cache")


@pytest.fixture(scope="module")
def aligned(tiny_twin: Path, shared_cache: Path) -> tuple[AlignedFrames, Frames, list[str]]:
    dataset = load_unbc(tiny_twin, progress=False)
    cache = build_cache(dataset.frames, dataset.root, AlignSettings(SIZE, 40),
                        cache_root=shared_cache / "align", progress=False)
    return cache, Frames.of(dataset.frames, DEFAULT_AUS), dataset.subjects()


def _config(**fn2en: object) -> TrainConfig:
    settings = {"iterations": 30, "teacher_checkpoint": str(DEMO_MODEL), "lr": 0.01, **fn2en}
    return TrainConfig(
        name="tiny fn2en", method="fn2en",
        model=ModelConfig(backbone="face_cnn_small", input_size=SIZE),
        sampling=SamplingConfig(eliminate_redundant=True, uniform_classes=True),
        solver=SolverConfig(lr=0.01, batch_size=16, iterations=20, snapshot_every=5),
        settings=FN2ENConfig(**settings),
    )


def _data(aligned: tuple[AlignedFrames, Frames, list[str]], config: TrainConfig) -> TrainingSet:
    cache, frames, subjects = aligned
    return training_set(subjects[0], config, FoldInputs(frames, cache))


def test_stage_a_learns_the_teachers_features_and_trains_only_the_supervised_layers(
    aligned: tuple[AlignedFrames, Frames, list[str]], tmp_path: Path
) -> None:
    config = _config(student_layer="4")  # the stage-3 residual block: blocks 5 and 6 are beyond it
    model = new_regressor(config)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    teacher = load_teacher(config.fn2en)
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    losses = distill(model, teacher, config, _data(aligned, config), device=CPU,
                     snapshot=tmp_path / STAGE_A_SNAPSHOT, progress=None)

    assert len(losses) == 30
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:5]), losses
    assert not teacher.training
    assert all(torch.equal(v, teacher_before[k]) for k, v in teacher.state_dict().items())
    after = model.state_dict()
    block = {k: k.split(".")[1] for k in after if k.startswith("backbone.")}
    trained = [k for k, b in block.items() if b in "01234" and not k.endswith("num_batches_tracked")]
    assert all(not torch.equal(after[k], before[k]) for k in trained)
    untouched = [k for k, b in block.items() if b in "5678"]
    untouched += [k for k in after if k.startswith(("embed.", "head."))]
    assert all(torch.equal(after[k], before[k]) for k in untouched)
    assert not model.training


def test_stage_a_resumes_after_a_crash_exactly_and_is_not_redone_when_finished(
    aligned: tuple[AlignedFrames, Frames, list[str]], tmp_path: Path
) -> None:
    config = _config(iterations=12)
    data = _data(aligned, config)
    whole = new_regressor(config)
    expected = distill(whole, load_teacher(config.fn2en), config, data, device=CPU,
                       snapshot=tmp_path / "whole.safetensors", progress=None)

    snapshot = tmp_path / STAGE_A_SNAPSHOT
    with pytest.raises(KilledError):  # killed during iteration 7: the snapshot of iteration 5 is on disk
        distill(new_regressor(config), load_teacher(config.fn2en), config,
                dataclasses.replace(data, images=killed_after(data.images, 6)), device=CPU,
                snapshot=snapshot, progress=None)
    resumed = new_regressor(config)
    losses = distill(resumed, load_teacher(config.fn2en), config, data, device=CPU, snapshot=snapshot,
                     progress=None)
    assert losses == pytest.approx(expected[5:], rel=1e-5)
    for key, value in whole.state_dict().items():
        assert torch.allclose(resumed.state_dict()[key].float(), value.float(), atol=1e-6), key

    again = new_regressor(config)
    assert distill(again, load_teacher(config.fn2en), config, data, device=CPU, snapshot=snapshot,
                   progress=None) == []
    for key, value in whole.state_dict().items():
        assert torch.allclose(again.state_dict()[key].float(), value.float(), atol=1e-6), key


def test_a_kill_in_stage_b_resumes_stage_b_without_redoing_stage_a(
    aligned: tuple[AlignedFrames, Frames, list[str]], tmp_path: Path
) -> None:
    config = _config(iterations=10)
    data = _data(aligned, config)
    method = METHODS["fn2en"]
    with pytest.raises(KilledError):  # stage (a): 10 batches; (b) snapshots at 5 and dies in iteration 7
        crashing = dataclasses.replace(data, images=killed_after(data.images, 16))
        method.train(method.new_model(config), config, crashing, device=CPU, iterations=20, folder=tmp_path,
                     progress=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == [STAGE_A_SNAPSHOT, "snapshot.safetensors"]

    calls = []
    counting = dataclasses.replace(data, images=lambda rows: calls.append(len(rows)) or data.images(rows))
    model = method.new_model(config)
    method.train(model, config, counting, device=CPU, iterations=20, folder=tmp_path, progress=None)
    assert len(calls) == 20 - 5  # only the rest of stage (b) read faces
    assert not list(tmp_path.iterdir())  # both snapshots gone once the fold is trained
    assert not model.training


def test_leave_one_subject_out_end_to_end_with_the_demo_model_as_face_net(
    aligned: tuple[AlignedFrames, Frames, list[str]], shared_cache: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, tiny_twin: Path
) -> None:
    monkeypatch.setenv("PAINMON_CACHE_DIR", str(shared_cache))
    cache, frames, subjects = aligned
    config = _config()
    result = run_loso(tiny_twin, config, tmp_path / "run", folds=[subjects[0]], device=CPU, iterations=20,
                      progress=False)
    assert result.trained == result.finished == [subjects[0]]
    m = result.evaluation.per_subject_mean
    assert all(np.isfinite(v) for v in (m.mae, m.mse, m.wmae, m.wmse))
    fold = tmp_path / "run" / "folds" / subjects[0]
    assert sorted(p.name for p in fold.iterdir()) == ["model.safetensors", "predictions.csv"]

    model, card = load_checkpoint(fold / "model.safetensors")
    assert card.config["method"] == "fn2en" and card.config["fn2en"]["teacher_checkpoint"] == str(DEMO_MODEL)
    assert (card.backbone, card.input_size) == ("face_cnn_small", SIZE)
    written = read_predictions(fold / "predictions.csv")
    held_out = np.flatnonzero(cache.found & (frames.subject == subjects[0]))
    assert len(written.prediction) == len(held_out) > 0
    assert np.allclose(predict(model, cache.crops, held_out, device=CPU), written.prediction, atol=1e-5)


def test_a_wrong_layer_name_fails_before_training_and_lists_the_blocks() -> None:
    with pytest.raises(ConfigError, match=r"student_layer = 'pool5'.*\(0, 1, 2, 3, 4, 5, 6, 7, 8\)"):
        METHODS["fn2en"].new_model(_config(student_layer="pool5"))
    with pytest.raises(ConfigError, match=r"teacher_layer = 'fc7'"):
        METHODS["fn2en"].new_model(_config(teacher_layer="fc7"))


def test_teacher_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="teacher_backbone 'vgg_face' is unknown"):
        load_teacher(FN2ENConfig(teacher_backbone="vgg_face"))
    with pytest.raises(ConfigError, match="teacher_pretrained 'vggface2' does not exist for face_cnn_small"):
        load_teacher(FN2ENConfig(teacher_backbone="face_cnn_small", teacher_pretrained="vggface2"))
    with pytest.raises(ModelFileError, match="model file not found"):
        load_teacher(FN2ENConfig(teacher_checkpoint=str(tmp_path / "missing.safetensors")))
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        FN2ENConfig(p=3)


def test_an_inception_resnet_teacher_supervises_the_small_net_through_the_adapter(
    aligned: tuple[AlignedFrames, Frames, list[str]], tmp_path: Path
) -> None:
    config = dataclasses.replace(_config(iterations=3, teacher_checkpoint="", teacher_pretrained=""),
                                 solver=SolverConfig(batch_size=4, lr=0.01))
    teacher = load_teacher(config.fn2en)  # InceptionResnetV1, random weights: block8 is 1792 × 3 × 3
    assert teacher.input_size == (160, 160)
    teacher.train()
    assert not teacher.training
    model = new_regressor(config)
    losses = distill(model, teacher, config, _data(aligned, config), device=CPU,
                     snapshot=tmp_path / STAGE_A_SNAPSHOT, progress=None)
    assert len(losses) == 3 and all(np.isfinite(losses))


def test_the_papers_setting_config_names_layers_that_exist() -> None:
    config = load_config(ROOT / "train" / "configs" / "fn2en.toml")
    offline = dataclasses.replace(config, settings=dataclasses.replace(config.fn2en, teacher_pretrained=""))
    model = METHODS["fn2en"].new_model(offline)  # the same InceptionResnetV1, random weights
    _, loss = stage_a_parts(model, load_teacher(offline.fn2en), offline)
    assert loss.adapt(torch.zeros(2, 128, 7, 6)).shape == (2, 1792, 3, 3)  # block8 of a 160×160 face


def test_offline_teacher_weights_give_a_one_line_error_and_exit_2(tiny_twin: Path, tmp_path: Path) -> None:

    if network_reachable():
        pytest.skip("this machine can reach github.com; the test checks the offline message")
    config = tmp_path / "fn2en.toml"
    config.write_text(f'name = "x"\nmethod = "fn2en"\n[model]\nbackbone = "face_cnn_small"\n'
                      f'input_size = [{SIZE[0]}, {SIZE[1]}]\n[fn2en]\nteacher_pretrained = "vggface2"\n')
    command = [sys.executable, "-m", "app", "train", "loso", "--data", str(tiny_twin),
               "--config", str(config), "--out", str(tmp_path / "run")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "TORCH_HOME": str(tmp_path / "torch")})
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]  # after the data loader's progress bars
    assert last.startswith("painmon: error: cannot download the vggface2 weights")
    assert "Traceback" not in result.stderr
    assert "20180402-114759-vggface2.pt" in last
    assert not (tmp_path / "run" / "folds").exists()  # failed before aligning or training anything
