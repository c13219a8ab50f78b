"""engine.applicability: the description of training faces (Mahalanobis with a shrunk covariance), its
threshold calibrated on held-out subjects, and its place in a checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from engine.applicability import APPLICABLE, COVERAGE, Applicability, describe, fit
from engine.checkpoint import card_for, load_checkpoint, save_checkpoint
from engine.errors import ModelFileError
from engine.model import PainRegressor
from engine.model_card import read_applicability, read_card


def subjects_of(rng: np.random.Generator, count: int, frames: int, dims: int,
                spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Features of `count` subjects: each a random offset (identity) plus correlated frame-to-frame noise."""
    mixing = rng.normal(size=(dims, dims)) / np.sqrt(dims)
    features = np.concatenate([rng.normal(size=dims) * spread + rng.normal(size=(frames, dims)) @ mixing
                               for _ in range(count)])
    return features.astype(np.float32), np.repeat([f"s{i:02d}" for i in range(count)], frames)


def test_distance_is_the_mahalanobis_distance_of_the_fitted_gaussian() -> None:
    rng = np.random.default_rng(0)
    covariance = np.array([[4.0, 1.5], [1.5, 1.0]])
    features = rng.multivariate_normal([3.0, -1.0], covariance, size=20_000)
    mean, whitening = fit(features)
    np.testing.assert_allclose(mean, [3.0, -1.0], atol=0.05)
    point = np.array([[5.0, 0.0]])
    expected = np.sqrt((point - [3.0, -1.0]) @ np.linalg.inv(covariance) @ (point - [3.0, -1.0]).T)
    assert Applicability(mean, whitening, 1.0).distance(point)[0] == pytest.approx(expected[0, 0], rel=0.03)


def test_few_faces_in_many_dimensions_are_shrunk_towards_a_round_covariance() -> None:
    rng = np.random.default_rng(1)
    features = rng.normal(size=(40, 100))  # fewer faces than features: the sample covariance is singular
    mean, whitening = fit(features)
    assert np.isfinite(whitening).all()
    inside = Applicability(mean, whitening, 1.0).distance(rng.normal(size=(500, 100)))
    assert np.median(inside) < 2 * np.sqrt(100)  # new points of the same cloud are not flung far away
    with pytest.raises(ValueError, match="at least 2"):
        fit(features[:1])


def test_the_threshold_keeps_about_99_percent_of_new_subjects_faces_inside() -> None:
    rng = np.random.default_rng(2)
    features, subjects = subjects_of(rng, 30, 60, 12)
    description = describe(features, subjects)
    more, _ = subjects_of(np.random.default_rng(3), 30, 60, 12)  # new subjects of the same kind
    values = description.value(more)
    assert 0.96 <= (values >= APPLICABLE).mean() <= 1.0 and COVERAGE == 0.99
    unlike = more + 6.0  # a shifted domain: every feature off by several standard deviations
    assert (description.value(unlike) < APPLICABLE).mean() > 0.99
    assert description.value(description.mean[None])[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 2 subjects"):
        describe(features, np.full(len(features), "one"))


def test_value_is_one_half_at_the_threshold_and_falls_beyond() -> None:
    description = Applicability(np.zeros(3, np.float32), np.eye(3, dtype=np.float32), 2.0)
    values = description.value(np.array([[0, 0, 0], [2, 0, 0], [0, 4, 0]], np.float32))
    np.testing.assert_allclose(values, [1.0, 0.5, 0.5 ** 4])


def test_a_checkpoint_carries_its_description_beside_the_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = PainRegressor("face_cnn_small").eval()
    rng = np.random.default_rng(4)
    features, subjects = subjects_of(rng, 6, 20, 464)
    description = describe(features, subjects)
    card = card_for(model, name="described", version="1", trained_on="noise",
                               applicability={"threshold": description.threshold, "frames": len(features)})
    path = save_checkpoint(tmp_path / "described.safetensors", model, card, description)
    back = read_applicability(path)
    assert back is not None and back.threshold == description.threshold
    np.testing.assert_array_equal(back.mean, description.mean)
    np.testing.assert_array_equal(back.whitening, description.whitening)
    loaded, loaded_card = load_checkpoint(path)  # the description is no weight of the model
    assert loaded_card.applicability["frames"] == len(features)
    assert set(loaded.state_dict()) == set(model.state_dict())

    plain = save_checkpoint(tmp_path / "plain.safetensors", model,
                            card_for(model, name="plain", version="1", trained_on="noise"))
    assert read_applicability(plain) is None and read_card(plain).applicability == {}  # unknown
    with pytest.raises(ValueError, match="must come together"):
        save_checkpoint(tmp_path / "x.safetensors", model, read_card(plain), description)


def test_a_damaged_description_is_a_model_file_error(tmp_path: Path) -> None:
    model = PainRegressor("face_cnn_small").eval()
    card = card_for(model, name="broken", version="1", trained_on="noise",
                               applicability={"threshold": 3.0})
    path = tmp_path / "broken.safetensors"
    description = Applicability(np.zeros(4, np.float32), np.eye(5, dtype=np.float32), 3.0)  # 4 ≠ 5
    save_checkpoint(path, model, card, description)
    with safe_open(path, framework="np") as handle:
        assert handle.get_tensor("applicability.whitening").shape == (5, 5)
    with pytest.raises(ModelFileError, match="malformed description"):
        read_applicability(path)
