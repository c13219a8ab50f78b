"""Training configs and the training loop, with the real PainRegressor (small backbone, tiny inputs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import PainmonError
from engine.model import PainRegressor
from tests.conftest import KilledError, killed_after
from train.config import ConfigError, ModelConfig, SamplingConfig, SolverConfig, TrainConfig, load_config
from train.loop import fit, predict, resolve_device, sgd_step, training_batch, training_rows
from train.losses import LossConfig

CONFIGS = Path(__file__).resolve().parent.parent / "train" / "configs"
CPU = torch.device("cpu")
SIZE = (32, 32)


# (file, regression, regularizer, center norm, sampling) per row of paper 000's Tables 1 and 2
TABLE_ROWS = [
    ("smooth_l1", "smooth_l1", "none", None, False),
    ("l1_softmax", "l1", "softmax", None, False),
    ("smooth_l1_softmax", "smooth_l1", "softmax", None, False),
    ("l1_l1center", "l1", "center", 1, False),
    ("smooth_l1_l1center", "smooth_l1", "center", 1, False),
    ("smooth_l1_l2center", "smooth_l1", "center", 2, False),
    ("l1_l1center_sampling", "l1", "center", 1, True),
    ("smooth_l1_l1center_sampling", "smooth_l1", "center", 1, True),
]


@pytest.mark.parametrize(("stem", "regression", "regularizer", "norm", "sampling"), TABLE_ROWS)
def test_one_config_per_table_row_with_the_papers_solver(
    stem: str, regression: str, regularizer: str, norm: int | None, sampling: bool
) -> None:
    config = load_config(CONFIGS / f"{stem}.toml")
    assert config.loss.regression == regression
    assert config.loss.regularizer == regularizer
    if regression == "smooth_l1":
        assert config.loss.turning_point == 1.0
    if regularizer == "center":
        assert (config.loss.center_norm, config.loss.weight) == (norm, 0.01)
    if regularizer == "softmax":
        assert config.loss.weight == 1.0
    assert config.sampling.eliminate_redundant is sampling and config.sampling.uniform_classes is sampling
    assert config.solver == SolverConfig(lr=1e-4, momentum=0.9, weight_decay=5e-4, batch_size=64,
                                         iterations=5000, mirror=True, seed=0)
    assert (config.model.backbone, config.model.pretrained) == ("inception_resnet_v1", "casia-webface")


def test_every_config_file_is_a_table_row_or_the_demo() -> None:
    stems = {p.stem for p in CONFIGS.glob("*.toml")}
    methods = {"au_pspi", "saliency", "saliency_global", "fn2en"}
    assert stems == {row[0] for row in TABLE_ROWS} | {"demo"} | methods
    names = [load_config(p).name for p in CONFIGS.glob("*.toml")]
    assert len(set(names)) == len(names)
    demo = load_config(CONFIGS / "demo.toml")
    assert (demo.model.backbone, demo.model.pretrained) == ("face_cnn_small", None)


def test_the_fn2en_config_is_a_small_net_under_a_pretrained_face_net_with_the_papers_best_row() -> None:
    config = load_config(CONFIGS / "fn2en.toml")
    best = load_config(CONFIGS / "smooth_l1_l1center_sampling.toml")
    assert config.method == "fn2en"
    assert (config.model.backbone, config.model.pretrained) == ("face_cnn_small", None)
    f = config.fn2en
    assert (f.teacher_backbone, f.teacher_pretrained) == ("inception_resnet_v1", "vggface2")
    assert not f.teacher_checkpoint
    assert (f.teacher_layer, f.student_layer, f.p) == ("block8", "6", 2)
    assert (config.loss, config.sampling, config.solver) == (best.loss, best.sampling, best.solver)


def test_the_au_config_is_paper_003_on_two_face_recognition_pretrainings_with_the_papers_solver() -> None:
    config = load_config(CONFIGS / "au_pspi.toml")
    assert config.method == "au"
    assert config.au.member_specs() == [("inception_resnet_v1", "vggface2"),
                                        ("inception_resnet_v1", "casia-webface")]
    assert config.au.aus == (4, 6, 7, 9, 10, 12, 20, 25, 26, 43)
    assert config.au.ml_ros and config.au.selective_learning and config.au.validation_subjects == 3
    assert config.solver == SolverConfig(lr=1e-4, momentum=0.9, weight_decay=5e-4, batch_size=64,
                                         iterations=5000, mirror=True, seed=0)


@pytest.mark.parametrize(("text", "message"), [
    ('name = "x"\n[loss]\nregresion = "l1"\n', "unknown setting"),
    ('name = "x"\n[loss]\nregression = "huber"\n', "loss.regression must be one of"),
    ('name = "x"\n[solver]\nbatch_size = 0\n', "must be positive"),
    ('name = "x"\n[optimiser]\nlr = 1\n', "unknown section"),
    ('[loss]\nregression = "l1"\n', "`name`"),
    ('name = "x"\nloss = 3\n', "must be a table"),
    ('name = "x"\nmethod = "au"\n[au]\nmembers = ["resnet_152"]\n', "unknown backbone 'resnet_152'"),
    ('name = "x"\nmethod = "au"\n[au]\nmembers = ["face_cnn_small:vggface2"]\n', "no pretrained weights"),
    ('name = "x"\n[au]\npresence = 1\n', "do not apply to method 'regression'"),
    ("name = \n", "not valid TOML"),
])
def test_bad_configs_name_the_file_and_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, PainmonError)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")


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
