"""Facial action units: the AU detection ensemble of paper 003 and the pain level computed from its AUs.

PSPI = AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43 (FACTS.md §3) on FACS intensities 0–5 (AU43 0/1). The
ensemble predicts, per AU, the probability that it is present; its pain output takes each AU's expected
intensity (probability × the AU's mean intensity when present in the training data), computes PSPI from
those and maps it to the papers' 0–5 level with a continuous version of their lookup (FACTS.md §4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor, nn

from engine.backbone_specs import BACKBONES
from engine.backbones import build_backbone, pooled_and_described

DEFAULT_AUS = (4, 6, 7, 9, 10, 12, 20, 25, 26, 43)
"""The AUs UNBC-McMaster codes with intensity, in the order of a model's AU outputs by default."""


def pspi_from_aus(intensity: Tensor, aus: Sequence[int]) -> Tensor:
    """PSPI of (N, K) AU intensities whose columns are `aus`; an AU missing from `aus` counts 0."""
    zero = intensity.new_zeros(intensity.shape[0])

    def au(number: int) -> Tensor:
        return intensity[:, list(aus).index(number)] if number in aus else zero

    return au(4) + torch.maximum(au(6), au(7)) + torch.maximum(au(9), au(10)) + au(43)


def level_from_pspi(pspi: Tensor) -> Tensor:
    """The papers' PSPI → level lookup (0→0, 1→1, 2→2, 3→3, 4–5→4, ≥6→5), linear between whole PSPI values.

    Written with clamps only (no indexing), so the exported graph stays simple for every backend.
    """
    return pspi.clamp(0.0, 4.0) + (pspi - 5.0).clamp(0.0, 1.0)


class AUNet(nn.Module):
    """One ensemble member: a face backbone → Dropout → FC to one logit per AU."""

    mean: Tensor  # buffers: the backbone's input normalisation
    std: Tensor

    def __init__(self, backbone: str, pretrained: str | None, n_aus: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.backbone = build_backbone(backbone, pretrained)  # raises for an unknown name
        spec = BACKBONES[backbone]
        self.backbone_name = backbone
        self.described = spec.described
        self.pretrained = pretrained
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(spec.feature_dim, n_aus))

    def forward(self, x: Tensor) -> Tensor:
        """AU logits (N, n_aus) for float32 N×3×h×w RGB faces in 0..255."""
        return self.forward_with_features(x)[0]

    def forward_with_features(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """AU logits (N, n_aus) and, from the same pass, the features that describe a face (the channel
        texture of the backbone's described stages)."""
        pooled, described = pooled_and_described(self.backbone, self.described, (x - self.mean) / self.std)
        return self.head(pooled), described


class AUPainModel(nn.Module):
    """Ensemble of AUNet members (paper 003): mean AU probabilities, and the pain level from them.

    `thresholds` (per AU, searched on held-out training subjects) turn probabilities into present/absent;
    `intensity` (per AU, its mean FACS intensity when present) turns them into expected intensities for PSPI.
    Both are buffers, so the checkpoint keeps them.
    """

    max_score = 5.0
    thresholds: Tensor
    intensity: Tensor

    def __init__(
        self,
        members: Sequence[tuple[str, str | None]],
        aus: Sequence[int] = DEFAULT_AUS,
        input_size: tuple[int, int] | None = None,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if not members:
            raise ValueError("an AU model needs at least one member backbone")
        if len(set(aus)) != len(aus) or not aus:
            raise ValueError(f"AU list must be non-empty without repeats, got {list(aus)}")
        self.aus = tuple(int(a) for a in aus)
        self.members = nn.ModuleList(AUNet(b, p, len(self.aus), dropout) for b, p in members)
        first = self.nets()[0]
        self.backbone_name = first.backbone_name
        self.pretrained = first.pretrained
        self.input_size: tuple[int, int] = input_size or BACKBONES[first.backbone_name].input_size
        self.register_buffer("thresholds", torch.full((len(self.aus),), 0.5))
        self.register_buffer("intensity", torch.ones(len(self.aus)))

    @property
    def mean(self) -> Tensor:
        """The first member's input normalisation (what the model card records)."""
        return self.nets()[0].mean

    @property
    def std(self) -> Tensor:
        """The first member's input normalisation scale (what the model card records)."""
        return self.nets()[0].std

    def nets(self) -> list[AUNet]:
        """The members, in order."""
        return [cast(AUNet, member) for member in self.members]

    def member_specs(self) -> list[tuple[str, str | None]]:
        """(backbone, pretrained) of each member, in order."""
        return [(member.backbone_name, member.pretrained) for member in self.nets()]

    def forward_with_aus(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Pain scores (N,) in [0, 5] and AU probabilities (N, K), the mean over the members."""
        scores, probs, _ = self.forward_with_features(x)
        return scores, probs

    def forward_with_features(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Pain scores (N,), AU probabilities (N, K) and the first member's features that describe a face
        (engine.applicability), all from one pass."""
        logits, features = zip(*(member.forward_with_features(x) for member in self.nets()), strict=True)
        probs = torch.stack([torch.sigmoid(z) for z in logits]).mean(0)
        pspi = pspi_from_aus(probs * self.intensity, self.aus)
        return level_from_pspi(pspi), probs, features[0]

    def forward(self, x: Tensor) -> Tensor:
        """Pain scores (N,) in [0, 5] for float32 N×3×h×w RGB faces in 0..255."""
        return self.forward_with_aus(x)[0]
