"""Paper 002's triplets: batch-hard mining by pain level, AU relevance per triplet, the global triplet loss.

In a triplet the anchor and positive share a pain level and the negative has another; O = |level(anchor) −
level(negative)| scales the margins. Mining follows Hermans et al. 2017 ("batch hard"): every frame of the
batch is an anchor, with its farthest same-level frame as positive and its nearest other-level frame as
negative, in the L2-normalised global feature space.

Eq. (6) as extracted reads [f(a,n) − f(a,p) + βO]₊ while calling f a distance, which would pull negatives
closer; we implement the stated intent, the usual triplet loss [f(a,p) − f(a,n) + βO]₊.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F


@dataclass(frozen=True)
class Triplets:
    """Batch positions of each triplet's anchor, positive and negative, and O = |level(a) − level(n)|."""

    anchor: Tensor  # int64 (T,)
    positive: Tensor  # int64 (T,)
    negative: Tensor  # int64 (T,)
    offset: Tensor  # float32 (T,)

    def __len__(self) -> int:
        return len(self.anchor)


def mine_batch_hard(features: Tensor, levels: Tensor) -> Triplets:
    """One triplet per frame that has a same-level partner and an other-level frame in the batch.

    `features` (B, D) are compared by Euclidean distance after L2 normalisation (no gradient flows through
    mining); the positive is the farthest same-level frame, the negative the nearest other-level frame.
    """
    with torch.no_grad():
        unit = F.normalize(features.detach().float(), dim=1)
        distance = torch.cdist(unit, unit)
        same = levels[:, None] == levels[None, :]
        itself = torch.eye(len(levels), dtype=torch.bool, device=levels.device)
        positives = same & ~itself
        negatives = ~same
        usable = positives.any(dim=1) & negatives.any(dim=1)
        positive = distance.masked_fill(~positives, -1.0).argmax(dim=1)
        negative = distance.masked_fill(~negatives, torch.inf).argmin(dim=1)
        anchor = usable.nonzero().flatten()
        positive, negative = positive[anchor], negative[anchor]
        offset = (levels[anchor] - levels[negative]).abs().float()
    return Triplets(anchor, positive, negative, offset)


def global_triplet_loss(features: Tensor, triplets: Triplets, beta: float) -> Tensor:
    """Eq. (6) averaged over the triplets: [‖fa − fp‖ − ‖fa − fn‖ + β·O]₊ on L2-normalised features."""
    unit = F.normalize(features.float(), dim=1)
    anchor = unit[triplets.anchor]
    d_ap = (anchor - unit[triplets.positive]).norm(dim=1)
    d_an = (anchor - unit[triplets.negative]).norm(dim=1)
    return F.relu(d_ap - d_an + beta * triplets.offset).mean()


@dataclass(frozen=True)
class AUSets:
    """Per triplet and AU (T, K): membership of set A (relevant) and B (irrelevant), the weights W of eq. (3)
    (0 outside A) and N = |B| per triplet (T,)."""

    relevant: Tensor  # bool (T, K)
    irrelevant: Tensor  # bool (T, K)
    weight: Tensor  # float32 (T, K)
    n_irrelevant: Tensor  # float32 (T,)


def au_sets(anchor: Tensor, positive: Tensor, negative: Tensor, alpha: float,
            usable: Tensor | None = None) -> AUSets:
    """Eqs. (1) and (3) from the FACS intensities (T, K) of each triplet's anchor, positive and negative.

    AU k is in A when |Va − Vp| < α and |Va − Vn| ≥ α, otherwise in B; W^k = |Va − Vn| / Σ_{i∈A} |Va − Vn|.
    An AU not coded (NaN) in any of the three frames, or False in `usable` (T, K), belongs to neither set.
    """
    a_p = (anchor - positive).abs()
    a_n = (anchor - negative).abs()
    coded = ~(a_p.isnan() | a_n.isnan())
    if usable is not None:
        coded &= usable
    relevant = coded & (a_p < alpha) & (a_n >= alpha)
    irrelevant = coded & ~relevant
    gap = torch.where(relevant, a_n, torch.zeros_like(a_n))
    weight = gap / gap.sum(dim=1, keepdim=True).clamp_min(torch.finfo(gap.dtype).tiny)
    return AUSets(relevant, irrelevant, weight.float(), irrelevant.sum(dim=1).float())
