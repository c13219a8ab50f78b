"""The papers' evaluation metrics (FACTS.md §4, happynear/PainRegression `scripts/get_accuracy.m`).

Each metric is computed per subject and averaged over subjects; the PCC mean skips subjects where it is
undefined (constant labels or predictions), the ICC mean counts an undefined ICC as 0. wMAE / wMSE are
class-macro: the mean over the classes present in that subject of the MAE / MSE of that class's frames.
Pooled values treat all frames as one subject.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

METRIC_NAMES = ("mae", "mse", "pcc", "icc", "wmae", "wmse")


@dataclass(frozen=True)
class Metrics:
    """One set of the papers' metrics; PCC and ICC are NaN where undefined."""

    mae: float
    mse: float
    pcc: float
    icc: float
    wmae: float
    wmse: float

    def as_dict(self) -> dict[str, float]:
        """The metrics keyed by their lower-case names, in the papers' column order."""
        return asdict(self)


@dataclass(frozen=True)
class Evaluation:
    """Per-subject metrics, their mean over subjects (the papers' figures) and the pooled values."""

    per_subject: dict[str, Metrics]
    per_subject_mean: Metrics
    pooled: Metrics
    frames: int


def _sum_of_squares(centred: np.ndarray, values: np.ndarray) -> float:
    # Exactly 0 for constant values, so that float rounding of their mean cannot fake a variance.
    return 0.0 if np.ptp(values) == 0 else float(centred @ centred)


def subject_metrics(labels: np.ndarray, predictions: np.ndarray) -> Metrics:
    """The metrics of one group of frames (one subject, or all frames for the pooled values)."""
    error = predictions - labels
    centred_labels = labels - labels.mean()
    centred_predictions = predictions - predictions.mean()
    cross = float(centred_labels @ centred_predictions)
    label_ss = _sum_of_squares(centred_labels, labels)
    prediction_ss = _sum_of_squares(centred_predictions, predictions)
    pcc = cross / np.sqrt(label_ss * prediction_ss) if label_ss > 0 and prediction_ss > 0 else np.nan
    icc = 2 * cross / (label_ss + prediction_ss) if label_ss + prediction_ss > 0 else np.nan
    classes = np.unique(labels)
    per_class = [error[labels == c] for c in classes]
    return Metrics(
        mae=float(np.mean(np.abs(error))),
        mse=float(np.mean(error**2)),
        pcc=float(pcc),
        icc=float(icc),
        wmae=float(np.mean([np.mean(np.abs(e)) for e in per_class])),
        wmse=float(np.mean([np.mean(e**2) for e in per_class])),
    )


def mean_over_subjects(per_subject: Sequence[Metrics]) -> Metrics:
    """The papers' summary: plain means, except PCC skips NaN and ICC counts NaN as 0."""
    table = np.array([[getattr(m, name) for name in METRIC_NAMES] for m in per_subject])
    means = dict(zip(METRIC_NAMES, table.mean(axis=0), strict=True))
    pcc = table[:, METRIC_NAMES.index("pcc")]
    means["pcc"] = pcc[~np.isnan(pcc)].mean() if (~np.isnan(pcc)).any() else np.nan
    means["icc"] = np.nan_to_num(table[:, METRIC_NAMES.index("icc")], nan=0.0).mean()
    return Metrics(**{name: float(value) for name, value in means.items()})


def evaluate(subjects: Sequence[str] | np.ndarray, labels: np.ndarray, predictions: np.ndarray) -> Evaluation:
    """Evaluate frame-level predictions; `subjects[i]` names the subject of frame i (any order)."""
    subject_ids = np.asarray(subjects, dtype=str)
    labels = np.asarray(labels, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64)
    if not subject_ids.ndim == labels.ndim == predictions.ndim == 1:
        raise ValueError("subjects, labels and predictions must be one-dimensional")
    if not len(subject_ids) == len(labels) == len(predictions):
        raise ValueError(
            f"lengths differ: {len(subject_ids)} subjects, {len(labels)} labels, "
            f"{len(predictions)} predictions"
        )
    if len(labels) == 0:
        raise ValueError("no frames to evaluate")
    if not (np.isfinite(labels).all() and np.isfinite(predictions).all()):
        raise ValueError("labels and predictions must be finite")
    per_subject = {
        str(s): subject_metrics(labels[subject_ids == s], predictions[subject_ids == s])
        for s in np.unique(subject_ids)
    }
    return Evaluation(
        per_subject=per_subject,
        per_subject_mean=mean_over_subjects(list(per_subject.values())),
        pooled=subject_metrics(labels, predictions),
        frames=len(labels),
    )
