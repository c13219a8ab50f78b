"""PainRegressor: a face backbone with the papers' regression head, scores on the 0–5 pain scale."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from engine.backbone_specs import BACKBONES
from engine.backbones import build_backbone, pooled_and_described

if TYPE_CHECKING:
    from engine.au import AUPainModel


class PainRegressor(nn.Module):
    """Backbone → Dropout → FC embed_dim → PReLU → Dropout → FC 1 → 5·sigmoid.

    Input is float32 N×3×h×w RGB in 0..255; the backbone's normalisation (x − mean) / std is applied
    inside the network from buffers, so every backend is fed the same tensor and the checkpoint keeps it.
    The embed_dim-wide layer is what center loss acts on during training.
    """

    max_score = 5.0
    aus: tuple[int, ...] = ()  # no AU outputs (engine.au.AUPainModel has them)
    mean: Tensor  # buffers: the backbone's input normalisation
    std: Tensor

    def __init__(
        self,
        backbone: str,
        pretrained: str | None = None,
        input_size: tuple[int, int] | None = None,
        embed_dim: int = 50,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.backbone = build_backbone(backbone, pretrained)  # raises for an unknown name
        spec = BACKBONES[backbone]
        self.backbone_name = backbone
        self.described = spec.described
        self.pretrained = pretrained
        self.input_size: tuple[int, int] = input_size or spec.input_size
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32))
        self.embed = nn.Sequential(nn.Dropout(dropout), nn.Linear(spec.feature_dim, embed_dim), nn.PReLU())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(embed_dim, 1))

    def forward_with_embedding(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Scores (N,) in [0, 5] and the (N, embed_dim) embedding for center loss."""
        return self._head(self.backbone((x - self.mean) / self.std))

    def forward_with_features(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Scores (N,) in [0, 5] and, from the same pass, the features that describe a face to
        engine.applicability (N, described_dim: the texture of the backbone's described stages)."""
        pooled, described = pooled_and_described(self.backbone, self.described, (x - self.mean) / self.std)
        return self._head(pooled)[0], described

    def _head(self, features: Tensor) -> tuple[Tensor, Tensor]:
        embedding = self.embed(features)
        return self.max_score * torch.sigmoid(self.head(embedding).squeeze(1)), embedding

    def forward(self, x: Tensor) -> Tensor:
        """Scores (N,) in [0, 5] for float32 N×3×h×w RGB faces in 0..255."""
        return self.forward_with_embedding(x)[0]


class ModelOutputs(nn.Module):
    """Wraps a pain model so that forward returns all its outputs as a tuple, in `output_names` order."""

    def __init__(self, model: PainRegressor | AUPainModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """(scores, features) or (scores, AU probabilities, features) for float32 N×3×h×w RGB faces in
        0..255."""
        return self.model.forward_with_features(x)
