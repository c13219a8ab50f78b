"""Paper 002's triplets on hand-built cases: batch-hard mining, AU sets A/B with W and N, the global loss."""

from __future__ import annotations

import math

import pytest
import torch

from train.triplets import Triplets, au_sets, global_triplet_loss, mine_batch_hard


def _at(*degrees_and_lengths: tuple[float, float]) -> torch.Tensor:
    return torch.tensor([[r * math.cos(math.radians(d)), r * math.sin(math.radians(d))]
                         for d, r in degrees_and_lengths])


def test_batch_hard_mining_takes_the_farthest_positive_and_the_nearest_negative() -> None:
    # Directions matter, not lengths: mining compares L2-normalised features.
    features = _at((0, 1), (10, 2), (90, 5), (20, 1), (170, 3), (5, 1))
    levels = torch.tensor([0, 0, 0, 1, 1, 2])
    triplets = mine_batch_hard(features, levels)
    assert triplets.anchor.tolist() == [0, 1, 2, 3, 4]  # frame 5 is the only level 2: no positive
    assert triplets.positive.tolist() == [2, 2, 0, 4, 3]
    assert triplets.negative.tolist() == [5, 5, 3, 1, 2]
    assert triplets.offset.tolist() == [2.0, 2.0, 1.0, 1.0, 1.0]


def test_mining_finds_nothing_without_partners() -> None:
    assert len(mine_batch_hard(torch.randn(3, 4), torch.tensor([0, 1, 2]))) == 0
    assert len(mine_batch_hard(torch.randn(3, 4), torch.tensor([2, 2, 2]))) == 0


def _one(offset: float) -> Triplets:
    return Triplets(torch.tensor([0]), torch.tensor([1]), torch.tensor([2]), torch.tensor([offset]))


@pytest.mark.parametrize(("beta", "expected"), [(0.5, math.sqrt(2) - 2 + 1.0), (0.25, 0.0)])
def test_global_loss_has_margin_beta_times_o(beta: float, expected: float) -> None:
    # anchor (1, 0), positive at distance √2, negative at distance 2 (lengths are normalised away); O = 2.
    features = torch.tensor([[3.0, 0.0], [0.0, 0.5], [-2.0, 0.0]], requires_grad=True)
    loss = global_triplet_loss(features, _one(2.0), beta)
    assert float(loss.detach()) == pytest.approx(expected, abs=1e-6)
    loss.backward()
    moved = features.grad.abs().sum()
    assert (moved > 0) == (expected > 0)  # a satisfied margin gives no gradient


def test_global_loss_pulls_the_positive_and_pushes_the_negative() -> None:
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0]], requires_grad=True)
    global_triplet_loss(features, _one(1.0), 0.5).backward()
    # A descent step (−grad) moves the positive (0, 1) towards the anchor (+x), the negative away (−x).
    assert features.grad[1, 0] < 0 and features.grad[2, 0] > 0


def test_au_sets_follow_eq_1_and_the_weights_eq_3() -> None:
    anchor = torch.tensor([[2.0, 0.0, 3.0, 1.0, 1.0, 2.0]])
    positive = torch.tensor([[2.0, 0.0, 1.0, 1.0, 0.0, 2.0]])
    negative = torch.tensor([[0.0, 0.0, 3.0, 4.0, 3.0, 1.0]])
    sets = au_sets(anchor, positive, negative, alpha=1.0)
    # AU0: |a−p| 0 < 1, |a−n| 2 ≥ 1 → A.  AU1: no change anywhere → B.  AU2: differs from the positive → B.
    # AU3: A.  AU4: |a−p| = α is not < α → B.  AU5: |a−n| = α is ≥ α → A.
    assert sets.relevant.tolist() == [[True, False, False, True, False, True]]
    assert sets.irrelevant.tolist() == [[False, True, True, False, True, False]]
    torch.testing.assert_close(sets.weight, torch.tensor([[2 / 6, 0, 0, 3 / 6, 0, 1 / 6]]))
    assert sets.n_irrelevant.tolist() == [3.0]


def test_uncoded_or_unusable_aus_belong_to_neither_set() -> None:
    nan = float("nan")
    anchor = torch.tensor([[2.0, nan, 0.0, 2.0], [2.0, 0.0, 0.0, 2.0]])
    positive = torch.tensor([[2.0, 0.0, 0.0, 2.0], [2.0, 0.0, 0.0, 2.0]])
    negative = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    usable = torch.tensor([[True, True, True, True], [True, True, True, False]])
    sets = au_sets(anchor, positive, negative, alpha=1.0, usable=usable)
    assert sets.relevant.tolist() == [[True, False, False, True], [True, False, False, False]]
    assert sets.irrelevant.tolist() == [[False, False, True, False], [False, True, True, False]]
    torch.testing.assert_close(sets.weight, torch.tensor([[0.5, 0, 0, 0.5], [1.0, 0, 0, 0]]))
    assert sets.n_irrelevant.tolist() == [1.0, 2.0]


def test_a_triplet_without_relevant_aus_has_zero_weights() -> None:
    same = torch.tensor([[1.0, 2.0]])
    sets = au_sets(same, same, same, alpha=0.5)
    assert not sets.relevant.any() and sets.weight.tolist() == [[0.0, 0.0]]
    assert sets.n_irrelevant.tolist() == [2.0]
