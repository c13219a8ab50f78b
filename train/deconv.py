"""The deconvolution group of paper 002: a Zeiler–Fergus deconvnet mirroring a backbone's conv layers.

It maps the bottleneck feature map (the last conv output, before global pooling) back to the input. Every
layer is undone in reverse order: a convolution by the transposed convolution with the same weights and no
bias, a ReLU by a ReLU on the reconstruction, a max-pool by unpooling to the switches (argmax positions) of
the forward pass. Batch norm is undone by its eval-mode per-channel scale γ/√(σ²+ε) (running statistics,
also while the encoder trains on batch statistics), i.e. BN is folded into the preceding convolution before
transposing and its shift is dropped like the conv biases. A residual addition sums the identity path and
the mirrored branch; Inception branches whose outputs are concatenated each get their slice of the
channels, and their reconstructions are summed.

The group's weights are copies (`copy_weights`, called before each use) and frozen: gradients of a loss on
the saliency map flow through the group into the encoder's feature map and so into the encoder, never into
the copies. Supported backbones: face_cnn_small and inception_resnet_v1 (engine.backbones).
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field

import torch
from facenet_pytorch.models import inception_resnet_v1 as irv1
from torch import Tensor, nn
from torch.nn import functional as F

from engine.backbones import ResidualBlock
from train.config import ConfigError

SUPPORTED_BACKBONES = ("face_cnn_small", "inception_resnet_v1")

_LEAVES = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d)
_RESIDUAL_INCEPTION = (irv1.Block35, irv1.Block17, irv1.Block8)
_CONCATENATING = (irv1.Mixed_6a, irv1.Mixed_7a)
_IN_ORDER = (nn.Sequential, irv1.BasicConv2d)  # forward applies the children in their registration order


@dataclass
class _Trace:
    """What the forward pass leaves for the way back: input shapes, output channels, max-pool switches."""

    inputs: dict[nn.Module, torch.Size] = field(default_factory=dict)
    channels: dict[nn.Module, int] = field(default_factory=dict)
    switches: dict[nn.Module, Tensor] = field(default_factory=dict)

    def record(self, module: nn.Module, args: tuple[Tensor, ...], output: Tensor) -> None:
        x = args[0]
        self.inputs[module] = x.shape
        self.channels[module] = output.shape[1]
        if isinstance(module, nn.MaxPool2d):
            with torch.no_grad():
                self.switches[module] = F.max_pool2d(
                    x, module.kernel_size, module.stride, module.padding, module.dilation,
                    ceil_mode=module.ceil_mode, return_indices=True)[1]


def _unsupported(what: str) -> ConfigError:
    return ConfigError(f"saliency supervision cannot mirror {what}: supported backbones are "
                       f"{', '.join(SUPPORTED_BACKBONES)}")


def _check(module: nn.Module) -> None:
    """Raise ConfigError if some layer of `module` has no mirror."""
    if isinstance(module, _LEAVES):
        return
    if not isinstance(module, (*_IN_ORDER, ResidualBlock, *_RESIDUAL_INCEPTION, *_CONCATENATING)):
        raise _unsupported(f"layer {type(module).__name__}")
    for child in module.children():
        _check(child)


def _split(backbone: nn.Module) -> tuple[nn.Sequential, nn.Sequential]:
    """The backbone's conv layers and what follows them (global pooling, flatten)."""
    if not isinstance(backbone, nn.Sequential):
        raise _unsupported(f"a {type(backbone).__name__} backbone")
    pools = [i for i, layer in enumerate(backbone) if isinstance(layer, nn.AdaptiveAvgPool2d)]
    if not pools:
        raise _unsupported("a backbone without global average pooling")
    return backbone[:pools[0]], backbone[pools[0]:]


def _branches(module: nn.Module) -> list[nn.Module]:
    return [child for name, child in module.named_children() if name.startswith("branch")]


def _unpool(r: Tensor, switches: Tensor, shape: torch.Size) -> Tensor:
    """Transpose of max-pooling: each value goes back to its switch position (overlaps add up)."""
    n, c = r.shape[:2]
    flat = r.new_zeros(n, c, shape[-2] * shape[-1]).scatter_add(2, switches.flatten(2), r.flatten(2))
    return flat.view(n, c, shape[-2], shape[-1])


def check_backbone(backbone: nn.Module) -> None:
    """Raise ConfigError naming the supported backbones if `backbone` cannot be mirrored."""
    conv_part, _ = _split(backbone)
    _check(conv_part)


class DeconvGroup(nn.Module):
    """Frozen mirror of `backbone`'s conv layers; `saliency_maps(x)` gives (N, H, W) maps in [0, 1].

    `backbone` is one of engine.backbones' feature extractors (conv layers, global average pooling,
    flatten); it stays the caller's module and is not registered here. Call `copy_weights` whenever the
    backbone's weights have changed.
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        conv_part, head = _split(backbone)
        _check(conv_part)
        self._encoder = (conv_part, head)  # a tuple: not registered, so not frozen with the copies
        self._keys: dict[nn.Module, str] = {}
        self.transposed = nn.ModuleDict()
        self.scales = nn.ParameterDict()
        for name, module in conv_part.named_modules():
            key = name.replace(".", "-")
            if isinstance(module, nn.Conv2d):
                self._keys[module] = key
                self.transposed[key] = nn.ConvTranspose2d(
                    module.out_channels, module.in_channels, module.kernel_size, module.stride,
                    module.padding, groups=module.groups, bias=False, dilation=module.dilation,
                    device=module.weight.device)
            elif isinstance(module, nn.BatchNorm2d):
                self._keys[module] = key
                self.scales[key] = nn.Parameter(module.running_var.new_ones(module.num_features))
        self.requires_grad_(False)
        self.copy_weights()

    @torch.no_grad()
    def copy_weights(self) -> None:
        """Copy the encoder's current conv weights and batch-norm scales into the group."""
        for module, key in self._keys.items():
            if isinstance(module, nn.Conv2d):
                self.transposed[key].weight.copy_(module.weight)
            else:
                scale = torch.rsqrt(module.running_var + module.eps)
                self.scales[key].copy_(scale * module.weight if module.affine else scale)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor, _Trace]:
        """Run the encoder on normalised input: pooled features (N, D), bottleneck map, forward trace."""
        conv_part, head = self._encoder
        trace = _Trace()
        handles = [m.register_forward_hook(trace.record) for m in conv_part.modules()]
        try:
            feature_map = conv_part(x)
        finally:
            for handle in handles:
                handle.remove()
        return head(feature_map), feature_map, trace

    def reconstruct(self, feature_map: Tensor, trace: _Trace) -> Tensor:
        """The deconvnet's input-space reconstruction (N, C_in, H, W) of a bottleneck feature map."""
        return self._undo(self._encoder[0], feature_map, trace)

    def saliency_maps(self, x: Tensor) -> Tensor:
        """Saliency (N, H, W) of normalised input x: |reconstruction| summed over channels, max 1 per image.

        Differentiable with respect to the encoder's weights (through its feature map).
        """
        _, feature_map, trace = self.encode(x)
        magnitude = self.reconstruct(feature_map, trace).abs().sum(dim=1)
        peak = magnitude.flatten(1).amax(dim=1).clamp_min(1e-12)
        return magnitude / peak[:, None, None]

    def _undo(self, module: nn.Module, r: Tensor, trace: _Trace) -> Tensor:
        if isinstance(module, _LEAVES):
            return self._undo_layer(module, r, trace)
        if isinstance(module, ResidualBlock):  # relu(x + body(x))
            r = F.relu(r)
            return r + self._undo(module.body, r, trace)
        if isinstance(module, _RESIDUAL_INCEPTION):  # relu(x + scale · conv2d(cat(branches(x))))
            if hasattr(module, "relu"):
                r = F.relu(r)
            return r + self._undo_concat(module, self._undo(module.conv2d, module.scale * r, trace), trace)
        if isinstance(module, _CONCATENATING):  # cat(branches(x))
            return self._undo_concat(module, r, trace)
        for child in reversed(list(module.children())):  # _IN_ORDER
            r = self._undo(child, r, trace)
        return r

    def _undo_layer(self, module: nn.Module, r: Tensor, trace: _Trace) -> Tensor:
        if isinstance(module, nn.Conv2d):
            return self.transposed[self._keys[module]](r, output_size=trace.inputs[module][-2:])
        if isinstance(module, nn.BatchNorm2d):
            return r * self.scales[self._keys[module]][:, None, None]
        if isinstance(module, nn.ReLU):
            return F.relu(r)
        return _unpool(r, trace.switches[module], trace.inputs[module])  # nn.MaxPool2d

    def _undo_concat(self, module: nn.Module, r: Tensor, trace: _Trace) -> Tensor:
        branches = _branches(module)
        parts = r.split([trace.channels[b] for b in branches], dim=1)
        return functools.reduce(operator.add, (self._undo(b, part, trace)
                                               for b, part in zip(branches, parts, strict=True)))
