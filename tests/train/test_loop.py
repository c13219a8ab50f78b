"""The training loop, with the real PainRegressor (small backbone, tiny inputs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import PainmonError
from engine.model import PainRegressor
from tests.helpers import KilledError, killed_after
from train.config import ModelConfig, SamplingConfig, SolverConfig, TrainConfig
from train.loop import fit, predict, resolve_device, sgd_step, training_batch, training_rows
from train.losses import LossConfig

CPU = torch.device("cpu")
SIZE = (32, 32)


def _config(**solver: object) -> TrainConfig:
    settings = {"lr": 0.02, "batch_size": 16, "iterations": 60, "snapshot_every": 5, **solver}
    return TrainConfig(
        name="test",
        model=ModelConfig(backbone="face_cnn_small", input_size=SIZE),
        loss=LossConfig(regression="smooth_l1", regularizer="center", center_norm=1, weight=0.01),
        sampling=SamplingConfig(eliminate_redundant=False, uniform_classes=True),
        solver=SolverConfig(**settings),
    )


def _data(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images whose brightness pattern encodes the level (mostly level 0, like the pain data)."""
    rng = np.random.default_rng(seed)
    levels = np.where(rng.random(n) < 0.6, 0, rng.integers(1, 6, n))
    images = rng.integers(0, 40, (n, *SIZE, 3)).astype(np.uint8)
    images[:, : SIZE[0] // 2] += (40 * levels).astype(np.uint8)[:, None, None, None]
    return images, levels


def _model() -> PainRegressor:
    torch.manual_seed(0)
    return PainRegressor("face_cnn_small", None, SIZE)


def test_fit_learns_the_levels_and_predict_scores_in_order() -> None:
    images, levels = _data()
    model = _model()
    rows = np.arange(len(levels))
    parts = fit(model, _config(), lambda r: images[r], rows, levels, device=CPU, progress=None)
    assert set(parts) == {"regression", "center"}
    scores = predict(model, lambda r: images[r], rows, device=CPU, batch_size=50)
    assert scores.shape == (len(levels),) and scores.dtype == np.float32
    assert np.all((scores >= 0) & (scores <= 5))
    assert np.corrcoef(scores, levels)[0, 1] > 0.9
    reversed_scores = predict(model, lambda r: images[r], rows[::-1].copy(), device=CPU)
    np.testing.assert_allclose(reversed_scores[::-1], scores, atol=1e-5)


def test_a_run_killed_after_a_snapshot_resumes_to_the_same_weights(tmp_path: Path) -> None:
    images, levels = _data(120)
    rows = np.arange(len(levels))
    config = _config(iterations=23)
    straight = _model()
    fit(straight, config, lambda r: images[r], rows, levels, device=CPU, progress=None)

    snapshot = tmp_path / "snapshot.safetensors"
    with pytest.raises(KilledError):  # in iteration 13
        fit(_model(), config, killed_after(lambda r: images[r], 12), rows, levels, device=CPU,
            snapshot=snapshot, progress=None)
    assert snapshot.exists()  # written after iteration 10
    resumed = _model()
    fit(resumed, config, lambda r: images[r], rows, levels, device=CPU, snapshot=snapshot, progress=None)
    assert not snapshot.exists()
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_training_rows_apply_redundant_frame_elimination_only_when_asked() -> None:
    rows = np.array([10, 11, 12, 13, 14, 15, 16, 20])
    levels = np.array([0, 0, 0, 0, 0, 0, 0, 3])
    sequences = np.array(["a"] * 7 + ["b"])
    assert training_rows(rows, levels, sequences, SamplingConfig()).tolist() == rows.tolist()
    kept = training_rows(rows, levels, sequences, SamplingConfig(eliminate_redundant=True))
    assert kept.tolist() == [10, 20]


def test_devices_are_checked() -> None:
    assert resolve_device("cpu") == CPU
    with pytest.raises(PainmonError, match="device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        assert resolve_device(None) == CPU
        with pytest.raises(PainmonError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (mixed-precision training path)")
def test_fit_on_cuda_with_mixed_precision_learns_the_levels() -> None:
    images, levels = _data()
    rows = np.arange(len(levels))
    cuda = torch.device("cuda")
    model = _model()
    fit(model, _config(), lambda r: images[r], rows, levels, device=cuda, progress=None)
    scores = predict(model, lambda r: images[r], rows, device=cuda)
    assert np.corrcoef(scores, levels)[0, 1] > 0.9
    assert next(model.parameters()).dtype == torch.float32  # AMP keeps fp32 master weights


def test_training_batches_mirror_the_flagged_faces_and_a_non_finite_loss_names_the_setting() -> None:
    images, _ = _data(n=8)
    torch.manual_seed(3)
    x, flip = training_batch(images, CPU, mirror=True)
    plain = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    assert 0 < int(flip.sum()) < 8
    torch.testing.assert_close(x[flip], plain[flip].flip(3))
    torch.testing.assert_close(x[~flip], plain[~flip])
    x, flip = training_batch(images, CPU, mirror=False)
    assert not flip.any() and torch.equal(x, plain)
    weight = torch.nn.Parameter(torch.ones(1))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    scaler = torch.amp.GradScaler(enabled=False)
    assert sgd_step(optimizer, scaler, (2 * weight).sum(), iteration=0, remedy="solver.lr") == 2.0
    assert weight.item() == pytest.approx(0.8)
    with pytest.raises(PainmonError, match=r"diverged at iteration 7 .*lower fn2en\.lr"):
        sgd_step(optimizer, scaler, weight.sum() * float("nan"), iteration=7, remedy="fn2en.lr")
