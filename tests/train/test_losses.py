"""The papers' losses against hand-computed values, and their gradients."""

from __future__ import annotations

import pytest
import torch

from train.losses import CenterLoss, LossConfig, PainLoss, SoftmaxHead, l2, smooth_l1


def test_smooth_l1_matches_the_papers_formula_on_both_branches() -> None:
    pred = torch.tensor([0.0, 0.5, 3.0, 1.0])
    target = torch.tensor([0.0, 0.0, 0.0, 4.0])
    # t = 1: 0, 0.5·0.25, 3 − 1 + 0.5, 3 − 1 + 0.5
    assert smooth_l1(pred, target, 1.0).item() == pytest.approx((0 + 0.125 + 2.5 + 2.5) / 4)
    # t = 2: 0, 0.125, 3 − 2 + 2 = 3, 3
    assert smooth_l1(pred, target, 2.0).item() == pytest.approx((0 + 0.125 + 3 + 3) / 4)


def test_smooth_l1_with_turning_point_zero_is_l1() -> None:
    pred = torch.tensor([0.2, 1.7, 4.0, 0.0])
    target = torch.tensor([0.0, 2.0, 1.0, 5.0])
    assert smooth_l1(pred, target, 0.0).item() == pytest.approx((0.2 + 0.3 + 3 + 5) / 4)


def test_smooth_l1_is_continuous_at_the_turning_point_and_rejects_negative_t() -> None:
    t = 0.7
    below = smooth_l1(torch.tensor([t - 1e-6]), torch.tensor([0.0]), t).item()
    above = smooth_l1(torch.tensor([t + 1e-6]), torch.tensor([0.0]), t).item()
    assert below == pytest.approx(above, abs=1e-5)
    with pytest.raises(ValueError, match="turning point"):
        smooth_l1(torch.zeros(1), torch.zeros(1), -1.0)


def test_l2_is_half_the_mean_squared_error() -> None:
    assert l2(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0])).item() == pytest.approx(0.5 * (1 + 9) / 2)


def test_center_loss_l1_and_l2_distances_to_the_label_center() -> None:
    loss1 = CenterLoss(num_classes=3, dim=2, p=1)
    loss2 = CenterLoss(num_classes=3, dim=2, p=2)
    centers = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, -2.0]])
    with torch.no_grad():
        loss1.centers.copy_(centers)
        loss2.centers.copy_(centers)
    x = torch.tensor([[1.0, -1.0], [1.0, 3.0]])
    y = torch.tensor([0, 1])
    assert loss1(x, y).item() == pytest.approx((2 + 2) / 2)  # |1|+|−1|, |0|+|2|
    assert loss2(x, y).item() == pytest.approx(0.5 * (2 + 4) / 2)  # ½(1+1), ½(0+4)


def test_center_loss_learns_its_centers_by_gradient() -> None:
    loss = CenterLoss(num_classes=2, dim=3, p=2)
    x = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    y = torch.tensor([1, 1])
    optimizer = torch.optim.SGD(loss.parameters(), lr=0.5)
    untouched = loss.centers[0].detach().clone()
    for _ in range(50):
        optimizer.zero_grad()
        loss(x, y).backward()
        optimizer.step()
    assert torch.allclose(loss.centers[1], x[0], atol=1e-4)
    assert torch.equal(loss.centers[0], untouched)  # only the classes in the batch move
    with pytest.raises(ValueError, match="1 or 2"):
        CenterLoss(p=3)


def test_softmax_head_is_cross_entropy_over_six_levels() -> None:
    head = SoftmaxHead(dim=4)
    with torch.no_grad():
        head.fc.weight.zero_()
        head.fc.bias.zero_()
    value = head(torch.randn(5, 4), torch.tensor([0, 1, 2, 3, 5]))
    assert value.item() == pytest.approx(torch.log(torch.tensor(6.0)).item())


def test_pain_loss_adds_lambda_times_the_regularizer() -> None:
    torch.manual_seed(0)
    scores = torch.tensor([0.5, 2.0, 4.5])
    levels = torch.tensor([0, 2, 5])
    emb = torch.randn(3, 50)
    plain = PainLoss(LossConfig(regression="l1", regularizer="none"))
    total, parts = plain(scores, emb, levels)
    assert total.item() == pytest.approx((0.5 + 0 + 0.5) / 3)
    assert set(parts) == {"regression"}
    center = PainLoss(LossConfig(regression="l1", regularizer="center", center_norm=1, weight=0.01))
    total, parts = center(scores, emb, levels)
    expected_center = (emb - center.regularizer.centers[levels]).abs().sum(1).mean().item()
    assert parts["center"] == pytest.approx(expected_center, rel=1e-5)
    assert total.item() == pytest.approx(parts["regression"] + 0.01 * expected_center, rel=1e-5)
    softmax = PainLoss(LossConfig(regression="smooth_l1", regularizer="softmax", weight=1.0))
    assert sum(p.numel() for p in softmax.parameters()) == 50 * 6 + 6
    l2_loss = PainLoss(LossConfig(regression="l2"))
    assert l2_loss(scores, emb, levels)[0].item() == pytest.approx(0.5 * (0.25 + 0 + 0.25) / 3)


@pytest.mark.parametrize("bad", [{"regression": "huber"}, {"regularizer": "triplet"}, {"center_norm": 3},
                                 {"weight": -1.0}])
def test_loss_config_rejects_unknown_choices(bad: dict) -> None:
    with pytest.raises(ValueError):
        LossConfig(**bad)
