"""Multi-label AU detection parts of paper 003: labels, masked BCE, selective learning, ML-ROS, thresholds.

Labels are (n, K) float arrays: 1 present, 0 absent, NaN unknown (the paper's 999), one column per AU.

- Masked weighted BCE (paper eq. 1): unknown labels get weight 0. The sum of the weighted terms is divided by
  the number of known labels in the batch, so with every label known and unit weights it is eq. 1 averaged
  over the batch; selective learning keeps the total weight of each AU near its known count, so the scale
  stays the same with it.
- Selective learning (Hand et al. 2018; the authors' `BCE_sigmoid_negtive_bias_all.py`): per AU and batch,
  the positive share is compared with a target rate r. When positives are under-represented, the batch keeps
  round((1 − r)·n) of its n known labels' negatives (the surplus is masked at random) and up-weights the
  positives so that their weighted share is exactly r; when over-represented, the reverse. The paper leaves
  the split between masking and weighting open; this one keeps the total weight near n.
- ML-ROS (Charte et al. 2015): IRLbl(λ) = max over labels of the positive count / the positive count of λ,
  MeanIR their mean over labels that occur; samples of minority labels (IRLbl > MeanIR, fixed at the start)
  are cloned round-robin until each label's IRLbl ≤ MeanIR or the budget is spent.
- Threshold search (the authors' `search.py`): per AU, the candidate thresholds are the validation
  probabilities; an AU is called present when its probability ≥ the threshold; the chosen threshold is the
  one where |precision − recall| is smallest, among those that call at least one present AU right (the
  authors' search could pick a threshold with precision = recall = 0).
- Metrics (paper §4.3): per AU accuracy and F1 and their mean, and their averages over the AUs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

EYES_CLOSED = 43
"""AU43 is coded without intensity (0/1): present whenever coded."""


def au_labels(aus: np.ndarray, au_numbers: Sequence[int], presence: float) -> np.ndarray:
    """Presence labels (n, K) float32 of FACS intensities: 1 where intensity > `presence`, NaN stays NaN.

    AU43 (0/1) is present when it is 1, whatever `presence` is.
    """
    aus = np.asarray(aus, dtype=np.float32)
    cut = np.array([0.0 if a == EYES_CLOSED else presence for a in au_numbers], dtype=np.float32)
    labels = (aus > cut).astype(np.float32)
    labels[np.isnan(aus)] = np.nan
    return labels


def positive_rates(labels: np.ndarray) -> np.ndarray:
    """Per AU, the share of positives among its known labels (NaN for an AU without any known label)."""
    known = (~np.isnan(labels)).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(known > 0, np.nansum(labels, 0) / known, np.nan)


def masked_bce(logits: torch.Tensor, labels: torch.Tensor,
               weights: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted BCE of (B, K) logits against labels with NaN = unknown, divided by the known label count."""
    known = ~torch.isnan(labels)
    weight = known.float() if weights is None else weights.float() * known
    target = torch.nan_to_num(labels.float(), nan=0.0)
    total = F.binary_cross_entropy_with_logits(logits.float(), target, weight=weight, reduction="sum")
    return total / known.sum().clamp(min=1)


def selective_learning_weights(labels: np.ndarray, rates: np.ndarray,
                               seed: int | Sequence[int]) -> np.ndarray:
    """Per-label weights (B, K) that give each AU's positives the weighted share `rates` in this batch.

    0 for unknown and masked labels. An AU whose positive count is already the nearest whole number to
    rate × known count, or whose batch lacks positives or negatives (nothing to weight), keeps weights 1.
    The masked labels are drawn from `seed`.
    """
    rng = np.random.default_rng(seed)
    weights = (~np.isnan(labels)).astype(np.float32)
    for k, rate in enumerate(rates):
        column = labels[:, k]
        positives, negatives = np.flatnonzero(column == 1), np.flatnonzero(column == 0)
        n = len(positives) + len(negatives)
        if not len(positives) or not len(negatives) or not 0 < rate < 1:
            continue
        wanted = int(np.floor(rate * n + 0.5))  # positives in a batch with the data set's share
        if len(positives) == wanted:
            continue
        if len(positives) < wanted:  # keep (1 − r)·n negatives, up-weight the positives
            scarce, plenty, scarce_rate = positives, negatives, rate
        else:  # keep r·n positives, up-weight the negatives
            scarce, plenty, scarce_rate = negatives, positives, 1.0 - rate
        keep = max(1, n - int(np.floor(scarce_rate * n + 0.5)))
        weights[rng.choice(plenty, len(plenty) - keep, replace=False), k] = 0.0
        weights[scarce, k] = scarce_rate * keep / ((1.0 - scarce_rate) * len(scarce))
    return weights


def imbalance_ratios(labels: np.ndarray) -> np.ndarray:
    """IRLbl per label: the largest positive count over this label's; NaN for labels that never occur."""
    counts = (labels == 1).sum(0).astype(np.float64)
    with np.errstate(divide="ignore"):
        return np.where(counts > 0, counts.max(initial=0.0) / counts, np.nan)


def ml_ros(labels: np.ndarray, budget: float, seed: int) -> np.ndarray:
    """Row positions after ML-ROS: every row once, then the clones (at most int(budget × rows) of them).

    Minority labels (IRLbl > MeanIR) take turns; each turn clones one random row where the label is present
    and drops the label once its IRLbl (recomputed) is ≤ MeanIR. Labels that never occur are left out.
    """
    rng = np.random.default_rng(seed)
    positive = labels == 1
    counts = positive.sum(0).astype(np.float64)
    ratios = imbalance_ratios(labels)
    occurring = ~np.isnan(ratios)
    if not occurring.any():
        return np.arange(len(labels))
    mean_ir = float(ratios[occurring].mean())
    minority = [k for k in np.flatnonzero(occurring) if ratios[k] > mean_ir]
    bags = {k: np.flatnonzero(positive[:, k]) for k in minority}
    left = int(budget * len(labels))
    clones: list[int] = []
    while left > 0 and minority:
        for k in list(minority):
            if left == 0:
                break
            row = int(rng.choice(bags[k]))
            clones.append(row)
            counts += positive[row]
            left -= 1
            if counts.max() / counts[k] <= mean_ir:
                minority.remove(k)
    return np.concatenate([np.arange(len(labels)), np.asarray(clones, dtype=np.int64)])


def search_thresholds(probs: np.ndarray, labels: np.ndarray, default: float = 0.5) -> np.ndarray:
    """Per AU, the validation probability where |precision − recall| is smallest (present: prob ≥ it).

    Candidates that call no present AU right (precision = recall = 0) are skipped; an AU without a positive
    validation label keeps `default`.
    """
    thresholds = np.full(probs.shape[1], default, dtype=np.float32)
    for k in range(probs.shape[1]):
        known = ~np.isnan(labels[:, k])
        p, y = probs[known, k], labels[known, k]
        if not (y == 1).any():
            continue
        order = np.argsort(-p, kind="stable")
        p, y = p[order], y[order]
        last = np.r_[p[1:] != p[:-1], True]  # the last row of each distinct probability, high to low
        true_pos = np.cumsum(y)[last]
        called = np.flatnonzero(last) + 1.0
        gap = np.where(true_pos > 0, np.abs(true_pos / called - true_pos / y.sum()), np.inf)
        thresholds[k] = p[last][np.argmin(gap)]
    return thresholds


@dataclass(frozen=True)
class AUScores:
    """Per-AU detection metrics (paper §4.3); NaN where undefined, skipped by the averages over AUs."""

    au_numbers: tuple[int, ...]
    accuracy: np.ndarray  # (K,) share of known labels called right; NaN without known labels
    f1: np.ndarray  # (K,) 2·TP / (2·TP + FP + FN); NaN when there is neither a positive label nor a call
    positives: np.ndarray  # (K,) known labels that are present
    known: np.ndarray  # (K,) known labels

    @property
    def mean(self) -> np.ndarray:
        """(accuracy + F1) / 2 per AU, the paper's final figure."""
        return (self.accuracy + self.f1) / 2

    def average(self) -> dict[str, float]:
        """Accuracy, F1 and their mean averaged over the AUs where each is defined (NaN if none is)."""
        def over_aus(values: np.ndarray) -> float:
            defined = values[~np.isnan(values)]
            return float(defined.mean()) if len(defined) else float("nan")

        return {"accuracy": over_aus(self.accuracy), "f1": over_aus(self.f1), "mean": over_aus(self.mean)}


def au_scores(present: np.ndarray, labels: np.ndarray, au_numbers: Sequence[int]) -> AUScores:
    """Metrics of (n, K) boolean presence calls against labels (NaN = unknown, not counted)."""
    known = ~np.isnan(labels)
    truth = labels == 1
    called = present.astype(bool) & known
    true_pos = (called & truth).sum(0)
    false_pos = (called & ~truth).sum(0)
    false_neg = (~called & truth).sum(0)
    n_known = known.sum(0)
    correct = n_known - false_pos - false_neg
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(n_known > 0, correct / n_known, np.nan)
        f1_denominator = 2 * true_pos + false_pos + false_neg
        f1 = np.where(f1_denominator > 0, 2 * true_pos / f1_denominator, np.nan)
    return AUScores(tuple(int(a) for a in au_numbers), accuracy.astype(np.float64), f1.astype(np.float64),
                    truth.sum(0), n_known)
