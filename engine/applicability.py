"""Does a model apply to this face? Its features against a description of the faces it was trained on.

A checkpoint may carry an `Applicability`: where its training faces lie in the model's own feature space
(`engine.outputs.FEATURES`: the texture of the backbone's early stages, engine.backbones) — their mean and
the whitening of a Ledoit–Wolf shrunk covariance, so that ‖whitening · (f − mean)‖ is the Mahalanobis
distance — and a distance threshold calibrated on subjects held out of the description, so that about 1 %
of their faces fall beyond it. A face's applicability is 0.5 ** ((distance / threshold) ** 2): 1 at the
centre of the training faces, 0.5 at the threshold, towards 0 far outside. Below APPLICABLE the model does
not apply and the frame gets no score. A checkpoint without a description scores every face: its
applicability is unknown (UNKNOWN says so to users)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

APPLICABLE = 0.5
"""Faces whose applicability is below this are outside the model's training faces."""
COVERAGE = 0.99
"""Share of held-out in-domain faces the threshold keeps inside."""
UNKNOWN = ("applicability unknown: the model carries no description of its training faces, so it also "
           "scores faces unlike them (painmon train describe adds one)")
"""What users are told of a model without a description."""


@dataclass(frozen=True)
class Applicability:
    """The description of a model's training faces in its feature space (D features)."""

    mean: np.ndarray  # (D,) float32
    whitening: np.ndarray  # (D, D) float32, lower triangular
    threshold: float  # Mahalanobis distance at which applicability is APPLICABLE

    def distance(self, features: np.ndarray) -> np.ndarray:
        """Mahalanobis distances (N,) of features (N, D) from the training faces."""
        centred = np.asarray(features, np.float64) - self.mean
        return np.linalg.norm(centred @ self.whitening.astype(np.float64).T, axis=1)

    def value(self, features: np.ndarray) -> np.ndarray:
        """Applicability (N,) in (0, 1] of features (N, D); ≥ APPLICABLE inside the training faces."""
        return 0.5 ** ((self.distance(features) / self.threshold) ** 2)


def fit(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and whitening (D, D) of features (N, D): the inverse Cholesky factor of the Ledoit–Wolf
    shrunk covariance (shrunk towards its mean variance times the identity, by the estimated amount)."""
    x = np.asarray(features, np.float64)
    n, d = x.shape
    if n < 2:
        raise ValueError(f"describing training faces needs at least 2 of them, got {n}")
    mean = x.mean(axis=0)
    x = x - mean
    sample = x.T @ x / n
    level = float(np.trace(sample)) / d
    spread = float(((sample - level * np.eye(d)) ** 2).sum())  # how far the covariance is from level · I
    noise = float(((x ** 2).sum(axis=1) ** 2).sum() / n ** 2 - (sample ** 2).sum() / n)  # its sampling error
    shrink = 1.0 if spread <= 0 else min(max(noise, 0.0) / spread, 1.0)
    covariance = shrink * level * np.eye(d) + (1 - shrink) * sample
    if level <= 0:
        covariance += np.eye(d)  # constant features: distances count plain differences
    whitening = np.linalg.inv(np.linalg.cholesky(covariance))
    return mean.astype(np.float32), whitening.astype(np.float32)


def describe(features: np.ndarray, subjects: np.ndarray, *, folds: int = 5,
             coverage: float = COVERAGE) -> Applicability:
    """The description of training faces' features (N, D) from their subjects (N,): fitted on all of
    them, with the threshold at the `coverage` quantile of the distances of each of `folds` groups of
    subjects to a description fitted without that group (every face counted once)."""
    subjects = np.asarray(subjects)
    names = np.unique(subjects)
    if len(names) < 2:
        raise ValueError("calibrating applicability needs faces of at least 2 subjects")
    groups = np.array_split(np.random.default_rng(0).permutation(names), min(folds, len(names)))
    held_out = []
    for group in groups:
        inside = np.isin(subjects, group)
        mean, whitening = fit(features[~inside])
        held_out.append(Applicability(mean, whitening, 1.0).distance(features[inside]))
    threshold = float(np.quantile(np.concatenate(held_out), coverage))
    mean, whitening = fit(features)
    return Applicability(mean, whitening, threshold)
