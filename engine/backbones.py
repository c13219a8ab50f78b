"""Backbone registry: face networks without their verification FC layers, as feature extractors.

Every backbone takes a normalised N×3×h×w float tensor and returns N×feature_dim pooled features.
Pretrained face-verification weights are downloaded on the user's machine into torch's cache
(`$TORCH_HOME/checkpoints/`, where facenet-pytorch keeps them) and never shipped with painmon.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import torch
from facenet_pytorch import InceptionResnetV1
from facenet_pytorch.models.inception_resnet_v1 import get_torch_home
from torch import nn

from engine.errors import WeightsUnavailableError

MAX_INPUT_SCALE = 2
"""A backbone takes faces of at most this many times its own input size each way (model cards and training
configs are held to it: larger crops cost memory quadratically and no face needs them)."""


@dataclass(frozen=True)
class BackboneSpec:
    """What a backbone expects: input size (h, w), normalisation (x − mean) / std, and what it outputs.

    `min_side`: the smallest crop side it takes (InceptionResnetV1's unpadded convolutions fail below 75
    pixels; the small CNN's four stride-2 stages bring 16 pixels down to one).
    """

    name: str
    feature_dim: int
    input_size: tuple[int, int]
    mean: float
    std: float
    pretrained: tuple[str, ...]
    min_side: int
    # The early stages (children of the backbone) whose texture describes a face to engine.applicability:
    # per channel, the mean absolute difference between horizontally and between vertically neighbouring
    # positions of the stage's output (2 numbers per channel).
    described: tuple[str, ...]
    described_dim: int

    def accepts(self, size: tuple[int, int]) -> bool:
        """Whether the backbone takes (h, w) crops: each side from min_side to MAX_INPUT_SCALE × its own."""
        return all(self.min_side <= side <= MAX_INPUT_SCALE * own
                   for side, own in zip(size, self.input_size, strict=True))

    def input_sizes(self) -> str:
        """The crop sizes it takes, for messages: "h 16..224, w 16..192 pixels"."""
        h, w = (MAX_INPUT_SCALE * side for side in self.input_size)
        return f"h {self.min_side}..{h}, w {self.min_side}..{w} pixels"


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        # facenet-pytorch's InceptionResnetV1, trained on 160×160 crops with input (x − 127.5) / 128.
        # Described by two early stages: 2 × (64 + 256) numbers.
        BackboneSpec("inception_resnet_v1", 1792, (160, 160), 127.5, 128.0, ("casia-webface", "vggface2"),
                     min_side=75, described=("conv2d_2b", "conv2d_4b"), described_dim=640),
        # Small residual CNN on the papers' 112×96 template and (x − 128) / 128, trained from scratch;
        # described by its first three stages: 2 × (16 + 32 + 32) numbers.
        BackboneSpec("face_cnn_small", 128, (112, 96), 128.0, 128.0, (), min_side=16,
                     described=("0", "1", "2"), described_dim=160),
    )
}

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
