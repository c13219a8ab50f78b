"""Paper 002's local loss on hand-built cases: AU centres, patches, soft histograms, EMD and eqs. (2)–(5)."""

from __future__ import annotations

import math

import pytest
import torch

from engine.align import template_for
from engine.au import DEFAULT_AUS
from train.saliency import (
    au_histograms,
    au_points,
    emd,
    flip_landmarks,
    local_loss,
    patch_values,
    soft_histogram,
)
from train.triplets import au_sets

TEMPLATE = torch.from_numpy(template_for((112, 96)))[None]  # the papers' aligned crop
EYE_DISTANCE = float((TEMPLATE[0, 1] - TEMPLATE[0, 0]).norm())


def _points(au: int, landmarks: torch.Tensor = TEMPLATE) -> torch.Tensor:
    points, real = au_points(landmarks, [au])
    return points[0, 0][real[0]]


def test_au_centres_sit_on_the_face_parts_of_their_aus() -> None:
    left_eye, right_eye, nose, left_mouth, right_mouth = TEMPLATE[0]
    mouth = (left_mouth + right_mouth) / 2
    torch.testing.assert_close(_points(12), torch.stack([left_mouth, right_mouth]))
    torch.testing.assert_close(_points(7), torch.stack([left_eye, right_eye]))
    torch.testing.assert_close(_points(25)[0], mouth)
    below = _points(26)[0] - mouth
    assert below[1] == pytest.approx(0.45 * EYE_DISTANCE, rel=0.01) and abs(below[0]) < 0.5
    glabella = _points(4)[0]
    assert glabella[1] < left_eye[1] - 10 and abs(glabella[0] - (left_eye[0] + right_eye[0]) / 2) < 0.5
    cheeks = _points(6)
    assert torch.all(cheeks[:, 1] > left_eye[1] + 15) and torch.all(cheeks[:, 1] < nose[1])
    corners = _points(20)
    assert corners[0, 0] < left_mouth[0] and corners[1, 0] > right_mouth[0]  # outside the mouth corners
    assert left_eye[1] < _points(9)[0, 1] < nose[1] < _points(10)[0, 1] < mouth[1]


def test_au_centres_turn_and_scale_with_the_face() -> None:
    centre = TEMPLATE[0].mean(dim=0)
    turn = torch.tensor([[0.0, -1.0], [1.0, 0.0]])  # 90°
    turned = ((TEMPLATE - centre) @ turn.T * 2 + centre)
    expected = (au_points(TEMPLATE, DEFAULT_AUS)[0] - centre) @ turn.T * 2 + centre
    torch.testing.assert_close(au_points(turned, DEFAULT_AUS)[0], expected, atol=1e-4, rtol=0)


def test_unknown_aus_are_named() -> None:
    with pytest.raises(ValueError, match="AU 99"):
        au_points(TEMPLATE, [4, 99])


def test_flipping_landmarks_mirrors_x_and_swaps_sides() -> None:
    flipped = flip_landmarks(TEMPLATE, 96)
    assert flipped[0, 0, 0] == pytest.approx(95 - float(TEMPLATE[0, 1, 0]))  # new left eye = old right eye
    assert flipped[0, 3, 1] == TEMPLATE[0, 4, 1]
    torch.testing.assert_close(flip_landmarks(flipped, 96), TEMPLATE)


def test_patches_are_clipped_at_the_border() -> None:
    maps = torch.arange(20 * 30, dtype=torch.float32).view(1, 20, 30)
    points = torch.tensor([[[[10.0, 10.0]], [[0.0, 0.0]], [[29.4, 19.4]]]])  # (1, 3 AUs, 1 point, 2)
    values, weights = patch_values(maps, points, torch.ones(3, 1, dtype=torch.bool), patch=5)
    assert weights.sum(dim=-1).tolist() == [[25.0, 9.0, 9.0]]
    inner = values[0, 0].view(5, 5)
    torch.testing.assert_close(inner, maps[0, 8:13, 8:13])
    corner = values[0, 1][weights[0, 1] > 0]
    assert sorted(corner.tolist()) == sorted(maps[0, 0:3, 0:3].flatten().tolist())


def test_soft_histogram_spreads_each_value_over_its_two_nearest_bins() -> None:
    values = torch.tensor([[0.0, 0.5, 1.0], [0.25, 0.25, 0.25]])
    hist = soft_histogram(values, torch.ones_like(values), bins=3)
    torch.testing.assert_close(hist, torch.tensor([[1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]]))
    masked = soft_histogram(values[:1], torch.tensor([[1.0, 0.0, 0.0]]), bins=3)
    torch.testing.assert_close(masked, torch.tensor([[1.0, 0.0, 0.0]]))


def test_soft_histogram_sums_to_one_and_is_differentiable() -> None:
    torch.manual_seed(0)
    values = torch.rand(4, 50, dtype=torch.float64, requires_grad=True)
    weights = (torch.rand(4, 50) > 0.3).double()
    hist = soft_histogram(values, weights, bins=8)
    torch.testing.assert_close(hist.sum(dim=-1), torch.ones(4, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda v: soft_histogram(v, weights, 8), (values,))


def _hist(*mass: float) -> torch.Tensor:
    return torch.tensor(mass)


def test_emd_of_identical_opposite_and_shifted_histograms() -> None:
    p = _hist(0.1, 0.2, 0.3, 0.4)
    assert float(emd(p, p)) == 0.0
    assert float(emd(_hist(1, 0, 0, 0, 0), _hist(0, 0, 0, 0, 1))) == pytest.approx(1.0)
    assert float(emd(_hist(1, 0, 0, 0, 0), _hist(0, 1, 0, 0, 0))) == pytest.approx(0.25)  # one bin of four
    # Half the mass moves two bins, the other half two bins: 2 bin-units of work over 3 → 2/3.
    a, b = _hist(0.5, 0.5, 0, 0), _hist(0, 0, 0.5, 0.5)
    assert float(emd(a, b)) == pytest.approx(2 / 3) and float(emd(b, a)) == pytest.approx(2 / 3)


def _patch(value: float) -> torch.Tensor:
    return torch.full((11 * 11,), value)


def test_local_loss_on_hand_built_patches() -> None:
    """Two triplets, three AUs: AU0 relevant (set A, W = 1), AU1 and AU2 irrelevant (set B, N = 2), O = 1.

    Triplet 1: AU0's anchor patch is dark, the positive's half-bright (g = 0.5), the negative's bright (1):
    [0.5 − 1 + 1·1]₊ = 0.5. AU1: the negative's patch is bright, [1 − 0 − 1/2]₊ = 0.5; AU2 all dark: 0.
    Triplet 2: AU0 already discriminates (positive dark): [0 − 1 + 1]₊ = 0; AU1 and AU2 alike: 0.
    The loss is the mean over triplets: (1.0 + 0) / 2.
    """
    dark, half, bright = _patch(0.0), _patch(0.5), _patch(1.0)
    anchor = torch.stack([torch.stack([dark, dark, dark]), torch.stack([dark, dark, dark])])
    positive = torch.stack([torch.stack([half, dark, dark]), torch.stack([dark, dark, dark])])
    negative = torch.stack([torch.stack([bright, bright, dark]), torch.stack([bright, dark, dark])])
    histogram = [soft_histogram(v, torch.ones_like(v), bins=5) for v in (anchor, positive, negative)]
    aus = au_sets(torch.tensor([[2.0, 0, 0]] * 2), torch.tensor([[2.0, 0, 0]] * 2), torch.zeros(2, 3), 1.0)
    assert aus.relevant[:, 0].all() and aus.n_irrelevant.tolist() == [2.0, 2.0]
    loss = local_loss(*histogram, torch.tensor([1.0, 1.0]), aus)
    assert float(loss) == pytest.approx(0.5)


def test_local_loss_margins_grow_with_o() -> None:
    dark, bright = _patch(0.0), _patch(1.0)
    histogram = [soft_histogram(v[None, None], torch.ones(1, 1, 121), bins=5) for v in (dark, dark, bright)]
    relevant = au_sets(torch.tensor([[2.0]]), torch.tensor([[2.0]]), torch.tensor([[0.0]]), 1.0)
    irrelevant = au_sets(torch.tensor([[0.0]]), torch.tensor([[0.0]]), torch.tensor([[0.0]]), 1.0)
    # Set A: [0 − 1 + O]₊ ; set B (N = 1): [1 − 0 − O]₊ with the negative's patch bright.
    assert [float(local_loss(*histogram, torch.tensor([o]), relevant)) for o in (1.0, 3.0)] == [0.0, 2.0]
    assert float(local_loss(*histogram, torch.tensor([0.25]), irrelevant)) == pytest.approx(0.75)


def test_au_histograms_pool_the_pixels_of_each_aus_patches() -> None:
    torch.manual_seed(1)
    maps = torch.rand(2, 112, 96, requires_grad=True)
    landmarks = TEMPLATE.expand(2, 5, 2)
    histograms, inside = au_histograms(maps, landmarks, DEFAULT_AUS, patch=11, bins=16)
    assert histograms.shape == (2, len(DEFAULT_AUS), 16) and inside.all()
    torch.testing.assert_close(histograms.sum(dim=-1), torch.ones(2, len(DEFAULT_AUS)))
    x, y = (round(float(v)) for v in _points(25)[0])  # one point: its square alone
    alone = soft_histogram(maps[0, y - 5:y + 6, x - 5:x + 6].flatten(), torch.ones(121), 16)
    torch.testing.assert_close(histograms[0, DEFAULT_AUS.index(25)], alone)
    (histograms * torch.arange(16.0)).sum().backward()  # the AU areas' mean brightness, through the bins
    touched = maps.grad[0].abs() > 0
    assert touched[y, x] and not touched[0, 0] and math.isfinite(float(maps.grad.sum()))
