"""The deconvolution group on the real backbones: copied frozen weights, input-sized maps, gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.backbones import build_backbone
from train.config import ConfigError
from train.deconv import DeconvGroup, check_backbone


def _small() -> nn.Module:
    torch.manual_seed(0)
    return build_backbone("face_cnn_small")


def _convs(backbone: nn.Module) -> list[nn.Conv2d]:
    return [m for m in backbone.modules() if isinstance(m, nn.Conv2d)]


def _perturb(backbone: nn.Module) -> None:
    with torch.no_grad():
        for conv in _convs(backbone):
            conv.weight.mul_(1.5).add_(0.05 * torch.randn_like(conv.weight))


def test_the_group_holds_frozen_copies_that_follow_the_encoder_only_when_copied() -> None:
    backbone = _small()
    group = DeconvGroup(backbone)
    copies = list(group.transposed.values())
    assert len(copies) == len(_convs(backbone)) == 10
    for conv, copy in zip(_convs(backbone), copies, strict=True):
        assert copy.weight.data_ptr() != conv.weight.data_ptr()
        torch.testing.assert_close(copy.weight, conv.weight, rtol=0, atol=0)
    assert not any(p.requires_grad for p in group.parameters())
    assert all(p.requires_grad for p in backbone.parameters())  # the encoder stays trainable
    bn = backbone[0][1]
    torch.testing.assert_close(group.scales["0-1"], bn.weight / torch.sqrt(bn.running_var + bn.eps))

    _perturb(backbone)
    assert not torch.equal(copies[0].weight, _convs(backbone)[0].weight)  # a copy, not a view
    group.copy_weights()
    for conv, copy in zip(_convs(backbone), copies, strict=True):
        torch.testing.assert_close(copy.weight, conv.weight, rtol=0, atol=0)


def test_saliency_maps_are_input_sized_in_0_1_and_train_the_encoder_not_the_group() -> None:
    backbone = _small()
    group = DeconvGroup(backbone)
    x = torch.randn(3, 3, 56, 48)
    maps = group.saliency_maps(x)
    assert maps.shape == (3, 56, 48)
    assert float(maps.detach().min()) >= 0
    torch.testing.assert_close(maps.detach().flatten(1).amax(dim=1), torch.ones(3))
    maps[:, 20:30, 10:20].sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in backbone.parameters() if p.ndim > 1)
    assert all(p.grad is None for p in group.parameters())


def test_saliency_changes_when_the_encoder_changes() -> None:
    backbone = _small()
    group = DeconvGroup(backbone)
    x = torch.randn(2, 3, 56, 48)
    with torch.no_grad():
        before = group.saliency_maps(x)
        _perturb(backbone)
        group.copy_weights()
        after = group.saliency_maps(x)
    assert (before - after).abs().mean() > 0.01


def test_without_relus_the_group_is_the_transpose_of_the_conv_layers() -> None:
    # Zeiler–Fergus: each conv is undone by its transpose, so a conv-only stack gives the exact adjoint.
    torch.manual_seed(2)
    backbone = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=False),
                             nn.Conv2d(4, 5, 3, stride=2, bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    group = DeconvGroup(backbone)
    x = torch.randn(1, 3, 23, 18, dtype=torch.float64)
    group.double()
    backbone.double()
    _, feature_map, trace = group.encode(x)
    y = torch.randn_like(feature_map)
    back = group.reconstruct(y, trace)
    assert back.shape == x.shape
    torch.testing.assert_close((feature_map * y).sum(), (x * back).sum())


def test_inception_resnet_v1_is_mirrored_through_its_branches_and_max_pools() -> None:
    torch.manual_seed(0)
    backbone = build_backbone("inception_resnet_v1")
    group = DeconvGroup(backbone)
    x = torch.randn(1, 3, 160, 160)
    maps = group.saliency_maps(x)
    assert maps.shape == (1, 160, 160) and torch.isfinite(maps).all()
    maps[:, 60:100, 60:100].sum().backward()
    convs = _convs(backbone)
    assert len(convs) == len(group.transposed) and all(c.weight.grad is not None for c in convs)
    assert all(p.grad is None for p in group.parameters())


def test_layers_without_a_mirror_are_refused_naming_the_supported_backbones() -> None:
    odd = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GELU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    supported = "supported backbones are face_cnn_small, inception_resnet_v1"
    with pytest.raises(ConfigError, match=rf"GELU.*{supported}"):
        check_backbone(odd)
    with pytest.raises(ConfigError, match="global average pooling"):
        DeconvGroup(nn.Sequential(nn.Conv2d(3, 4, 3)))
