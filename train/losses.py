"""The papers' losses: smooth-L1 / L1 / L2 regression; center-loss or softmax regularizers on the 50-d layer.

Paper 001 eq. (2): smooth-L1 with turning point t is 0.5·d² where |d| < t and |d| − t + 0.5·t² elsewhere;
t = 0 is L1. L2 is 0.5·d² (Caffe's EuclideanLoss, the t → ∞ limit). Regression losses are batch means.
Center loss (paper 001 eq. (3)): ‖x − c_y‖ₚᵖ over the 50-d features, one learnable center per class,
learned by gradient descent together with the network; its weight λ is 0.01 in the papers.
Softmax: a 50 → 6 linear classifier with cross-entropy, weight 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from engine.schema import NOT_NEGATIVE, Checked

NUM_LEVELS = 6  # pain levels 0..5 (FACTS.md §4)
REGRESSION_LOSSES = ("smooth_l1", "l1", "l2")
REGULARIZERS = ("none", "center", "softmax")


def smooth_l1(pred: torch.Tensor, target: torch.Tensor, t: float = 1.0) -> torch.Tensor:
    """Paper 001's smooth-L1 with turning point `t` (t = 0 gives L1), averaged over the batch."""
    if t < 0:
        raise ValueError(f"turning point must be >= 0, got {t}")
    d = (pred - target).abs()
    return torch.where(d < t, 0.5 * d * d, d - t + 0.5 * t * t).mean()


def l2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Half squared error averaged over the batch (Caffe's EuclideanLoss)."""
    return 0.5 * ((pred - target) ** 2).mean()


class CenterLoss(nn.Module):
    """‖x − c_y‖ₚᵖ averaged over the batch (p = 1 or 2; p = 2 carries Caffe's factor ½).

    The centers are an ordinary parameter: the optimizer learns them by gradient descent with the network,
    as the papers do (not the moving-average update of the original center loss). Initialised like Caffe's
    xavier filler, as the authors' prototxt does.
    """

    def __init__(self, num_classes: int = NUM_LEVELS, dim: int = 50, p: int = 1) -> None:
        super().__init__()
        if p not in (1, 2):
            raise ValueError(f"center loss norm must be 1 or 2, got {p}")
        self.p = p
        bound = (3.0 / dim) ** 0.5
        self.centers = nn.Parameter(torch.empty(num_classes, dim).uniform_(-bound, bound))

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        diff = features - self.centers[labels]
        if self.p == 1:
            return diff.abs().sum(dim=1).mean()
        return 0.5 * (diff * diff).sum(dim=1).mean()


class SoftmaxHead(nn.Module):
    """A linear classifier over the 50-d features trained with cross-entropy on the pain level."""

    def __init__(self, num_classes: int = NUM_LEVELS, dim: int = 50) -> None:
        super().__init__()
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.fc(features), labels)


@dataclass(frozen=True)
class LossConfig(Checked):
    """Which loss a config row uses (see train/configs/)."""

    regression: str = "smooth_l1"  # smooth_l1 | l1 | l2
    turning_point: float = field(default=1.0, metadata=NOT_NEGATIVE)  # smooth_l1 only
    regularizer: str = "none"  # none | center | softmax
    center_norm: int = 1  # center only: 1 or 2
    weight: float = field(default=0.01, metadata=NOT_NEGATIVE)  # λ of the regularizer: center 0.01, softmax 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.regression not in REGRESSION_LOSSES:
            raise ValueError(f"loss.regression must be one of {', '.join(REGRESSION_LOSSES)}, "
                             f"got {self.regression!r}")
        if self.regularizer not in REGULARIZERS:
            raise ValueError(f"loss.regularizer must be one of {', '.join(REGULARIZERS)}, "
                             f"got {self.regularizer!r}")
        if self.center_norm not in (1, 2):
            raise ValueError(f"loss.center_norm must be 1 or 2, got {self.center_norm}")


class PainLoss(nn.Module):
    """Regression loss on the 0–5 score plus λ × regularizer on the 50-d embedding.

    Its parameters (centers or the softmax classifier) must be given to the optimizer with the model's.
    Returns the total and the parts, for logging.
    """

    def __init__(self, config: LossConfig, embed_dim: int = 50) -> None:
        super().__init__()
        self.config = config
        self.regularizer: nn.Module | None = None
        if config.regularizer == "center":
            self.regularizer = CenterLoss(NUM_LEVELS, embed_dim, config.center_norm)
        elif config.regularizer == "softmax":
            self.regularizer = SoftmaxHead(NUM_LEVELS, embed_dim)

    def regression(self, scores: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        target = levels.to(scores.dtype)
        if self.config.regression == "l2":
            return l2(scores, target)
        t = 0.0 if self.config.regression == "l1" else self.config.turning_point
        return smooth_l1(scores, target, t)

    def forward(
        self, scores: torch.Tensor, embedding: torch.Tensor, levels: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        reg = self.regression(scores.float(), levels)
        parts = {"regression": float(reg.detach())}
        if self.regularizer is None:
            return reg, parts
        extra = self.regularizer(embedding.float(), levels.long())
        parts[self.config.regularizer] = float(extra.detach())
        return reg + self.config.weight * extra, parts
