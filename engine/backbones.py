"""Backbone registry: face networks without their verification FC layers, as feature extractors.

Every backbone takes a normalised N×3×h×w float tensor and returns N×feature_dim pooled features.
Pretrained face-verification weights are downloaded on the user's machine into torch's cache
(`$TORCH_HOME/checkpoints/`, where facenet-pytorch keeps them) and never shipped with painmon.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import torch
from facenet_pytorch import InceptionResnetV1
from facenet_pytorch.models.inception_resnet_v1 import get_torch_home
from torch import nn

from engine.backbone_specs import BACKBONES
from engine.errors import WeightsUnavailableError

_WEIGHT_URLS = {
    "casia-webface": "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/"
    "20180408-102900-casia-webface.pt",
    "vggface2": "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/"
    "20180402-114759-vggface2.pt",
}

# The face-verification layers after global pooling; the regressor replaces them with its own head.
_VERIFICATION_LAYERS = ("dropout", "last_linear", "last_bn", "logits")


def weights_cache_path(pretrained: str) -> Path:
    """Where the pretrained weights file is (or will be) cached: facenet-pytorch's location."""
    return Path(get_torch_home(), "checkpoints", _WEIGHT_URLS[pretrained].rsplit("/", 1)[1])


def _load_pretrained(pretrained: str) -> dict[str, torch.Tensor]:
    """Download (once) and load a pretrained state dict, without executing code from the file."""
    url, path = _WEIGHT_URLS[pretrained], weights_cache_path(pretrained)
    try:
        return torch.hub.load_state_dict_from_url(
            url, model_dir=str(path.parent), map_location="cpu", weights_only=True
        )
    except OSError as error:  # URLError, socket errors and timeouts are all OSError
        raise WeightsUnavailableError(
            f"cannot download the {pretrained} weights ({error}). Download {url} on a machine with "
            f"internet access and place the file at {path} (or set TORCH_HOME to a folder whose "
            "checkpoints/ subfolder holds it)"
        ) from error
    except (RuntimeError, pickle.UnpicklingError) as error:  # a damaged or foreign cached file
        raise WeightsUnavailableError(
            f"the cached {pretrained} weights at {path} are damaged or not a plain weights file; "
            "delete it to download it again"
        ) from error


def _inception_resnet_v1(pretrained: str | None) -> nn.Module:
    """facenet-pytorch's InceptionResnetV1 trunk up to global average pooling (1792-d)."""
    full = InceptionResnetV1(pretrained=None)
    trunk = nn.Sequential(
        OrderedDict(
            [(name, layer) for name, layer in full.named_children() if name not in _VERIFICATION_LAYERS]
            + [("flatten", nn.Flatten())]
        )
    )
    if pretrained is not None:
        state = {
            key: value
            for key, value in _load_pretrained(pretrained).items()
            if key.split(".", 1)[0] not in _VERIFICATION_LAYERS
        }
        trunk.load_state_dict(state)
    return trunk


def pooled_and_described(backbone: nn.Module, stages: tuple[str, ...], x: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """The backbone's output (its pooled features) for normalised input x and, from the same pass, the
    texture of the named stages' outputs (BackboneSpec.described): per channel, the mean absolute
    difference between horizontal neighbours, then between vertical ones, stage after stage."""
    described = []
    for name, layer in backbone.named_children():
        x = layer(x)
        if name in stages:
            described.append((x[:, :, :, 1:] - x[:, :, :, :-1]).abs().mean(dim=(2, 3)))
            described.append((x[:, :, 1:, :] - x[:, :, :-1, :]).abs().mean(dim=(2, 3)))
    return x, torch.cat(described, dim=1)


def _conv_bn_relu(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class ResidualBlock(nn.Module):
    """Two 3×3 convolutions with an identity shortcut (the Face-ResNet unit, with batch norm)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_bn_relu(channels, channels, 1),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.body(x))


def _face_cnn_small(pretrained: str | None) -> nn.Module:
    """Four stride-2 stages (16, 32, 64, 128 channels), a residual block in the last three, average pool.

    About 48 M multiply-adds per 112×96 face: trains on a CPU and runs at hundreds of faces per second.
    No pretrained weights exist for it (`pretrained` is always None).
    """
    widths = (16, 32, 64, 128)
    layers: list[nn.Module] = [_conv_bn_relu(3, widths[0], 2)]
    for c_in, c_out in pairwise(widths):
        layers += [_conv_bn_relu(c_in, c_out, 2), ResidualBlock(c_out)]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


_BUILDERS: dict[str, Callable[[str | None], nn.Module]] = {"inception_resnet_v1": _inception_resnet_v1,
                                                            "face_cnn_small": _face_cnn_small}


def build_backbone(name: str, pretrained: str | None = None) -> nn.Module:
    """Build backbone `name` (a key of BACKBONES): normalised N×3×h×w → N×feature_dim.

    pretrained names one of the spec's weight sets (downloaded once); None gives random weights.
    Raises WeightsUnavailableError when the weights can be neither downloaded nor found in the cache.
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose from {', '.join(BACKBONES)}")
    spec = BACKBONES[name]
    if pretrained is not None and pretrained not in spec.pretrained:
        choices = ", ".join(spec.pretrained) or "none"
        raise ValueError(f"backbone {name} has no pretrained weights {pretrained!r} (available: {choices})")
    return _BUILDERS[name](pretrained)
