"""Paper 003's multi-label parts on hand-built cases: labels, masked BCE, selective learning, ML-ROS,
threshold search and the AU metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from train.multilabel import (
    au_labels,
    au_scores,
    imbalance_ratios,
    masked_bce,
    ml_ros,
    positive_rates,
    search_thresholds,
    selective_learning_weights,
)

NAN = float("nan")


def test_labels_are_present_above_the_presence_intensity_and_au43_when_coded() -> None:
    aus = np.array([[0.0, 2.0, 1.0], [1.0, 0.0, 0.0], [3.0, NAN, 1.0]], dtype=np.float32)
    labels = au_labels(aus, (4, 6, 43), presence=1.0)
    np.testing.assert_array_equal(labels, [[0, 1, 1], [0, 0, 0], [1, NAN, 1]])
    np.testing.assert_array_equal(au_labels(aus, (4, 6, 43), presence=0.0)[1], [1, 0, 0])
    np.testing.assert_allclose(positive_rates(labels), [1 / 3, 1 / 2, 2 / 3])


def bce(logit: float, y: float) -> float:
    p = 1 / (1 + math.exp(-logit))
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def test_masked_bce_is_the_weighted_mean_over_known_labels_and_ignores_unknown_ones() -> None:
    logits = torch.tensor([[0.0, 2.0, -1.0], [1.5, -3.0, 4.0]])
    labels = torch.tensor([[1.0, 0.0, NAN], [0.0, NAN, 1.0]])
    weights = torch.tensor([[2.0, 1.0, 5.0], [0.5, 7.0, 1.0]])
    by_hand = (2 * bce(0, 1) + bce(2, 0) + 0.5 * bce(1.5, 0) + bce(4, 1)) / 4
    assert float(masked_bce(logits, labels, weights)) == pytest.approx(by_hand, rel=1e-6)
    unweighted = (bce(0, 1) + bce(2, 0) + bce(1.5, 0) + bce(4, 1)) / 4
    assert float(masked_bce(logits, labels)) == pytest.approx(unweighted, rel=1e-6)
    changed = logits.clone()
    changed[0, 2], changed[1, 1] = 50.0, -50.0  # masked entries do not matter, and get no gradient
    changed.requires_grad_(True)
    loss = masked_bce(changed, labels, weights)
    assert float(loss.detach()) == pytest.approx(by_hand, rel=1e-6)
    loss.backward()
    assert changed.grad[0, 2] == 0 and changed.grad[1, 1] == 0 and changed.grad[0, 0] != 0
    assert float(masked_bce(logits, torch.full_like(labels, NAN))) == 0.0


def weighted_share(weights: np.ndarray, labels: np.ndarray) -> np.ndarray:
    positive = np.where(labels == 1, weights, 0).sum(0)
    return positive / np.where(~np.isnan(labels), weights, 0).sum(0)


def test_selective_learning_masks_surplus_and_weights_the_scarce_label_to_the_data_sets_share() -> None:
    # AU 0: 1 of 8 positive, target 1/2 -> keep 4 of 7 negatives, positives weigh 4 (share 4 / 8).
    # AU 1: 6 of 8 positive, target 1/4 -> keep 2 of 6 positives, negatives weigh 3 (share 2 / 8).
    # AU 2: 2 of 8 positive at target 1/4 -> balanced: all 1. AU 3: no positive -> all 1 but the unknown.
    labels = np.array([[1, 1, 1, 0], [0, 1, 1, 0], [0, 1, 0, 0], [0, 1, 0, 0],
                       [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, NAN]], dtype=np.float32)
    rates = np.array([0.5, 0.25, 0.25, 0.1])
    weights = selective_learning_weights(labels, rates, seed=3)
    np.testing.assert_allclose(weighted_share(weights, labels)[:3], [0.5, 0.25, 0.25])
    assert weights[0, 0] == 4 and sorted(weights[1:, 0]) == [0, 0, 0, 1, 1, 1, 1]
    assert sorted(weights[:6, 1]) == [0, 0, 0, 0, 1, 1] and (weights[6:, 1] == 3).all()
    np.testing.assert_array_equal(weights[:, 2], 1)
    np.testing.assert_array_equal(weights[:, 3], [1, 1, 1, 1, 1, 1, 1, 0])
    assert weights[:, :2].sum(0).tolist() == [8, 8]  # the total weight stays the batch's known count
    np.testing.assert_array_equal(weights, selective_learning_weights(labels, rates, seed=3))
    other = [selective_learning_weights(labels, rates, seed=s)[:, 0] for s in range(10)]
    assert len({tuple(w) for w in other}) > 1  # which negatives are masked is random


def test_selective_learning_leaves_unknown_labels_out_of_the_counts() -> None:
    labels = np.array([[1], [0], [NAN], [NAN], [0], [0]], dtype=np.float32)  # 1 of 4 known positive
    np.testing.assert_array_equal(selective_learning_weights(labels, np.array([0.25]), 0)[:, 0],
                                  [1, 1, 0, 0, 1, 1])
    weights = selective_learning_weights(labels, np.array([0.5]), 0)  # keep 2 of 3 negatives, positive 2
    assert weights[0, 0] == 2 and sorted(weights[[1, 4, 5], 0]) == [0, 1, 1]
    assert weighted_share(weights, labels)[0] == pytest.approx(0.5)


def toy_labels() -> np.ndarray:
    """14 rows: label A in rows 0-7, B in 8-9, C in 10-13, D never (unknown in row 0)."""
    labels = np.zeros((14, 4), dtype=np.float32)
    labels[0:8, 0] = labels[8:10, 1] = labels[10:14, 2] = 1
    labels[0, 3] = NAN
    return labels


def test_ml_ros_raises_minority_labels_to_the_mean_imbalance_ratio() -> None:
    labels = toy_labels()
    ratios = imbalance_ratios(labels)
    np.testing.assert_allclose(ratios[:3], [1, 4, 2])
    assert np.isnan(ratios[3])  # never occurs: no IR, no division by zero
    # MeanIR = 7/3: B (IR 4) is the only minority label; 8 / count(B) <= 7/3 needs count(B) = 4.
    positions = ml_ros(labels, budget=1.0, seed=0)
    np.testing.assert_array_equal(positions[:14], np.arange(14))
    assert len(positions) == 16 and set(positions[14:]) <= {8, 9}
    np.testing.assert_array_equal((labels[positions] == 1).sum(0), [8, 4, 4, 0])
    np.testing.assert_array_equal(positions, ml_ros(labels, budget=1.0, seed=0))


def test_ml_ros_respects_its_budget_and_takes_minority_labels_in_turn() -> None:
    labels = toy_labels()
    assert len(ml_ros(labels, budget=0.1, seed=0)) == 14 + 1  # int(0.1 × 14) clones
    assert len(ml_ros(labels, budget=0.0, seed=0)) == 14
    # A in 12 rows, B and C in 1 each: IR 1, 12, 12, MeanIR 25/3 -> B and C both need 2 rows (IR 6).
    many = np.zeros((14, 3), dtype=np.float32)
    many[:12, 0], many[12, 1], many[13, 2] = 1, 1, 1
    positions = ml_ros(many, budget=1.0, seed=5)
    assert positions[14:].tolist() == [12, 13]
    assert ml_ros(many, budget=1 / 14, seed=5)[14:].tolist() == [12]  # budget spent after B's turn


def test_threshold_search_picks_where_precision_meets_recall() -> None:
    # Thresholds 0.9: P 1, R .5 | 0.8: P .5, R .5 | 0.4: P .67, R 1 | 0.3: P .5, R 1 | 0.1: P .4, R 1.
    probs = np.array([[0.9, 0.2], [0.8, 0.7], [0.4, 0.6], [0.3, 0.6], [0.1, 0.5]])
    labels = np.array([[1, 0], [0, 0], [1, 0], [0, NAN], [0, 0]], dtype=np.float32)
    np.testing.assert_allclose(search_thresholds(probs, labels), [0.8, 0.5])  # AU 1: no positive, default
    # Tied probabilities are called together; a threshold that calls no present AU right is no candidate.
    tied = np.array([[0.9], [0.6], [0.6], [0.3], [0.3], [0.1]])
    truth = np.array([[0], [0], [1], [1], [1], [0]], dtype=np.float32)
    # 0.9: P 0, R 0 (skipped) | 0.6: P 1/3, R 1/3 | 0.3: P 3/5, R 1 | 0.1: P 1/2, R 1.
    assert search_thresholds(tied, truth)[0] == pytest.approx(0.6)
    truth[1] = 1  # 0.9: P 0, R 0 (skipped) | 0.6: P 2/3, R 1/2 | 0.3: P 4/5, R 1 | 0.1: P 2/3, R 1.
    assert search_thresholds(tied, truth)[0] == pytest.approx(0.6)
    truth[:3] = 0  # 0.9, 0.6: no present AU called right (skipped) | 0.3: P 2/5, R 1 | 0.1: P 1/3, R 1
    assert search_thresholds(tied, truth)[0] == pytest.approx(0.3)


def test_au_scores_by_hand() -> None:
    present = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 1, 1]], dtype=bool)
    labels = np.array([[1, 0, 0], [0, NAN, 0], [1, 0, 0], [0, 1, NAN]], dtype=np.float32)
    scores = au_scores(present, labels, (4, 6, 12))
    # AU4: TP 1, FP 1, FN 1, TN 1; AU6: 3 known, TP 1, TN 2; AU12: 3 known, all absent, no call.
    np.testing.assert_allclose(scores.accuracy, [0.5, 1.0, 1.0])
    np.testing.assert_allclose(scores.f1, [0.5, 1.0, NAN])
    np.testing.assert_allclose(scores.mean, [0.5, 1.0, NAN])
    assert scores.positives.tolist() == [2, 1, 0] and scores.known.tolist() == [4, 3, 3]
    assert scores.average() == pytest.approx({"accuracy": 2.5 / 3, "f1": 0.75, "mean": 0.75})
