"""Paper 002's local loss: AU patches of the saliency map compared by a normalised 1-D EMD per AU.

AU centres come from the five landmarks of the aligned crop (eyes, nose tip, mouth corners), EAC-Net style:
each AU has one or more points, an affine combination of landmarks plus an offset measured along and across
the eye line in inter-ocular distances. A `patch`×`patch` square of the saliency map around each point
(clipped at the crop border) gives the AU's pixels; their soft histogram (triangular kernel over `bins` bins
on [0, 1], summing to 1) is compared between frames by the Earth Mover's Distance, which for 1-D histograms
is the L1 distance of their CDFs, divided by (bins − 1) so that it lies in [0, 1].

Eqs. (2) and (4) as extracted read g(a,n) − g(a,p) while calling g a distance, which would pull negatives
closer; we implement the stated intent. Set A (relevant AUs) must discriminate: Σ_k [g(Pa,Pp) − g(Pa,Pn) +
O·W^k]₊. Set B (irrelevant AUs) must not discriminate beyond O/N: Σ_k [g(Pa,Pn) − g(Pa,Pp) − O/N]₊ (the
paper's [·]₋). The local loss (eq. 5) is their sum, averaged over the triplets.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from train.triplets import AUSets

# Weights of the five landmarks (MTCNN order: image-left eye, image-right eye, nose tip, mouth corners).
_L_EYE = (1.0, 0.0, 0.0, 0.0, 0.0)
_R_EYE = (0.0, 1.0, 0.0, 0.0, 0.0)
_L_MOUTH = (0.0, 0.0, 0.0, 1.0, 0.0)
_R_MOUTH = (0.0, 0.0, 0.0, 0.0, 1.0)
_EYES = (0.5, 0.5, 0.0, 0.0, 0.0)
_MOUTH = (0.0, 0.0, 0.0, 0.5, 0.5)

AU_REGIONS: dict[int, tuple[tuple[tuple[float, ...], tuple[float, float]], ...]] = {
    4: ((_EYES, (0.0, -0.35)), (_L_EYE, (0.3, -0.4)), (_R_EYE, (-0.3, -0.4))),  # glabella, inner brows
    6: ((_L_EYE, (0.0, 0.5)), (_R_EYE, (0.0, 0.5))),  # cheeks below the eyes
    7: ((_L_EYE, (0.0, 0.0)), (_R_EYE, (0.0, 0.0))),  # eyelids
    9: (((0.25, 0.25, 0.5, 0.0, 0.0), (0.0, 0.0)),),  # nose bridge: halfway from between the eyes to the tip
    10: (((0.0, 0.0, 0.5, 0.25, 0.25), (0.0, 0.0)),),  # upper lip: halfway from the nose tip to the mouth
    12: ((_L_MOUTH, (0.0, 0.0)), (_R_MOUTH, (0.0, 0.0))),  # mouth corners
    20: ((_L_MOUTH, (-0.25, 0.0)), (_R_MOUTH, (0.25, 0.0))),  # beyond the mouth corners (lips stretch)
    25: ((_MOUTH, (0.0, 0.0)),),  # mouth centre (lips part)
    26: ((_MOUTH, (0.0, 0.45)),),  # below the mouth (jaw drops)
    43: ((_L_EYE, (0.0, 0.0)), (_R_EYE, (0.0, 0.0))),  # eyes (closed)
}
"""Per AU, its points: (weights of the five landmarks in MTCNN order, (right, down) offset in inter-ocular
distances, right along the image-left → image-right eye line and down perpendicular to it)."""


def au_points(landmarks: Tensor, aus: Sequence[int]) -> tuple[Tensor, Tensor]:
    """AU centres (N, K, P, 2) x, y in crop pixels from landmarks (N, 5, 2), and which are real (K, P).

    AUs with fewer than P points are padded with copies of their first point, marked False in the mask.
    """
    unknown = [au for au in aus if au not in AU_REGIONS]
    if unknown:
        raise ValueError(f"no face region for AU {', '.join(map(str, unknown))} "
                         f"(known: {', '.join(map(str, AU_REGIONS))})")
    regions = [AU_REGIONS[au] for au in aus]
    width = max(map(len, regions))
    padded = [region + region[:1] * (width - len(region)) for region in regions]
    weights = landmarks.new_tensor([[w for w, _ in region] for region in padded])  # (K, P, 5)
    offsets = landmarks.new_tensor([[o for _, o in region] for region in padded])  # (K, P, 2)
    real = torch.tensor([[i < len(region) for i in range(width)] for region in regions],
                        device=landmarks.device)
    base = torch.einsum("kpl,nlc->nkpc", weights, landmarks)
    eye_line = landmarks[:, 1] - landmarks[:, 0]
    distance = eye_line.norm(dim=1).clamp_min(1e-6)
    right = eye_line / distance[:, None]
    down = torch.stack([-right[:, 1], right[:, 0]], dim=1)
    shift = offsets[None, ..., :1] * right[:, None, None] + offsets[None, ..., 1:] * down[:, None, None]
    return base + distance[:, None, None, None] * shift, real


def flip_landmarks(landmarks: Tensor, width: int) -> Tensor:
    """The five landmarks (N, 5, 2) of horizontally mirrored crops, in MTCNN's order (image-left first)."""
    flipped = landmarks[:, [1, 0, 2, 4, 3]].clone()
    flipped[..., 0] = width - 1 - flipped[..., 0]
    return flipped


def patch_values(maps: Tensor, points: Tensor, real: Tensor, patch: int) -> tuple[Tensor, Tensor]:
    """Saliency values (N, K, P·patch²) of the squares around `points` (N, K, P, 2), and their weights.

    A pixel's weight is 1 inside the map and for a real point, 0 where the square passes the border or the
    point is padding.
    """
    n, height, width = maps.shape
    half = patch // 2
    steps = torch.arange(-half, patch - half, device=maps.device)
    centre = points.round().long()
    xs = centre[..., 0, None, None] + steps[None, :]  # (N, K, P, 1, patch)
    ys = centre[..., 1, None, None] + steps[:, None]  # (N, K, P, patch, 1)
    inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height) & real[None, :, :, None, None]
    index = ys.clamp(0, height - 1) * width + xs.clamp(0, width - 1)
    k = points.shape[1]
    values = maps.flatten(1).gather(1, index.flatten(1)).view(n, k, -1)
    return values, inside.flatten(2).to(values.dtype)


def soft_histogram(values: Tensor, weights: Tensor, bins: int) -> Tensor:
    """Normalised histograms (..., bins) of values in [0, 1] over their last axis, differentiable.

    Each value spreads over its two nearest bin centres (0, 1/(bins−1), …, 1) with a triangular kernel;
    `weights` (same shape as values) counts each value. All-zero weights give an all-zero histogram.
    """
    centres = torch.linspace(0.0, 1.0, bins, device=values.device, dtype=values.dtype)
    share = F.relu(1.0 - (values[..., None] - centres).abs() * (bins - 1))
    counts = (share * weights[..., None]).sum(dim=-2)
    return counts / counts.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(counts.dtype).tiny)


def emd(p: Tensor, q: Tensor) -> Tensor:
    """Normalised Earth Mover's Distance in [0, 1] between 1-D histograms (..., bins) that sum to 1."""
    bins = p.shape[-1]
    return (p - q).cumsum(dim=-1)[..., :-1].abs().sum(dim=-1) / (bins - 1)


def au_histograms(maps: Tensor, landmarks: Tensor, aus: Sequence[int], patch: int,
                  bins: int) -> tuple[Tensor, Tensor]:
    """Per frame and AU, the histogram (N, K, bins) of the saliency around the AU's points, and whether
    any of its pixels lies inside the map (N, K)."""
    points, real = au_points(landmarks, aus)
    values, weights = patch_values(maps, points, real, patch)
    return soft_histogram(values, weights, bins), weights.sum(dim=-1) > 0


def local_loss(anchor: Tensor, positive: Tensor, negative: Tensor, offset: Tensor, sets: AUSets) -> Tensor:
    """Eq. (5), averaged over triplets, from the AU histograms (T, K, bins) of the triplets' frames.

    Set A: Σ_k [g(Pa,Pp) − g(Pa,Pn) + O·W^k]₊; set B: Σ_k [g(Pa,Pn) − g(Pa,Pp) − O/N]₊; g is `emd`.
    """
    d_ap, d_an = emd(anchor, positive), emd(anchor, negative)
    o = offset[:, None]
    relevant = F.relu(d_ap - d_an + o * sets.weight)
    irrelevant = F.relu(d_an - d_ap - o / sets.n_irrelevant.clamp_min(1.0)[:, None])
    zero = torch.zeros_like(d_ap)
    per_triplet = torch.where(sets.relevant, relevant, zero) + torch.where(sets.irrelevant, irrelevant, zero)
    return per_triplet.sum(dim=1).mean()
