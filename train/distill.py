"""Feature regression between two face nets (paper 004, FaceNet2ExpNet stage (a)).

A frozen face net G supervises an intermediate layer g of the pain net with ‖g(I) − G(I)‖ₚᵖ. Layers are named
as in `module.named_modules()` of a backbone (top-level blocks such as `block8` of InceptionResnetV1 or `6` of
face_cnn_small, or dotted paths inside them); torchvision's FX feature extractor computes a backbone only up
to that layer and shares its modules, so training the extractor trains the backbone in place.

When the two feature maps differ in shape, `FeatureRegression` holds a small learned adapter on the student
side: a 1×1 convolution where the channel counts differ, then a bilinear resize to the teacher's spatial
size where those differ. It is part of the stage (a) loss only and is dropped with it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torchvision.models.feature_extraction import create_feature_extractor

from engine.align import PAPER_SIZE
from train.config import ConfigError

FEATURES = "features"
"""The key of the supervised layer's output in an extractor's result."""


def feature_distance(student: Tensor, teacher: Tensor, p: int) -> Tensor:
    """‖student − teacher‖ₚᵖ averaged over every element (batch included); p is 1 or 2."""
    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2, got {p}")
    diff = (student - teacher).abs()
    return (diff if p == 1 else diff * diff).mean()


def default_layer(backbone: nn.Module) -> str:
    """The last top-level block before the backbone's global pooling (the paper's pool5 advice)."""
    names = [name for name, _ in backbone.named_children()]
    for index, (_, child) in enumerate(backbone.named_children()):
        if isinstance(child, nn.AdaptiveAvgPool2d) and index > 0:
            return names[index - 1]
    raise ConfigError(f"backbone has no global pooling layer: name the layer to use ({', '.join(names)})")


def feature_extractor(backbone: nn.Module, layer: str, setting: str) -> nn.Module:
    """The backbone computed up to `layer` ("" = default_layer): returns {FEATURES: that layer's output}.

    The extractor shares the backbone's modules. An unknown layer raises ConfigError naming `setting` and
    the backbone's top-level blocks.
    """
    layer = layer or default_layer(backbone)
    known = {name for name, _ in backbone.named_modules() if name}
    if layer not in known:
        blocks = ", ".join(name for name, _ in backbone.named_children())
        raise ConfigError(f"[fn2en] {setting} = {layer!r} is not a layer of this backbone; choose one of "
                          f"its blocks ({blocks}) or a dotted path inside one (e.g. a name from "
                          "named_modules())")
    return create_feature_extractor(backbone, {layer: FEATURES})


def output_shape(extractor: nn.Module, input_size: tuple[int, int]) -> tuple[int, ...]:
    """Shape of one face's features (C,) or (C, H, W) at `input_size`, without changing any state."""
    mode = extractor.training
    extractor.eval()
    with torch.no_grad():
        probe = next(extractor.parameters())
        shape = extractor(probe.new_zeros(1, 3, *input_size))[FEATURES].shape[1:]
    extractor.train(mode)
    return tuple(shape)


def fit_crops(crops: Tensor, size: tuple[int, int]) -> Tensor:
    """Aligned crops (N, C, h, w) → the same faces on an (H, W) crop, placed as engine.align.template_for
    places them: scaled uniformly, centred, padded with black (or cropped) where the aspect ratios differ."""
    h, w = crops.shape[-2:]
    if (h, w) == tuple(size):
        return crops
    ratio = min(size[0] / PAPER_SIZE[0], size[1] / PAPER_SIZE[1]) / min(h / PAPER_SIZE[0], w / PAPER_SIZE[1])
    scaled = F.interpolate(crops, size=(round(h * ratio), round(w * ratio)), mode="bilinear",
                           align_corners=False, antialias=True)
    dh, dw = size[0] - scaled.shape[-2], size[1] - scaled.shape[-1]
    return F.pad(scaled, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))


def _as_map(shape: tuple[int, ...]) -> tuple[int, int, int]:
    return (shape[0], 1, 1) if len(shape) == 1 else (shape[0], shape[1], shape[2])


class FeatureRegression(nn.Module):
    """The stage (a) loss ‖a(g(I)) − G(I)‖ₚᵖ (averaged over elements) with the student-side adapter a.

    `student_shape` and `teacher_shape` are one face's features: (C,) after pooling or (C, H, W).
    """

    def __init__(self, student_shape: tuple[int, ...], teacher_shape: tuple[int, ...], p: int) -> None:
        super().__init__()
        if p not in (1, 2):
            raise ValueError(f"p must be 1 or 2, got {p}")
        self.p = p
        self.teacher_shape = tuple(teacher_shape)
        (c_s, *_), (c_t, h_t, w_t) = _as_map(tuple(student_shape)), _as_map(self.teacher_shape)
        self.project = nn.Conv2d(c_s, c_t, 1) if c_s != c_t else nn.Identity()
        self.size = (h_t, w_t)

    def adapt(self, student: Tensor) -> Tensor:
        """The student's features mapped to the teacher's shape."""
        x = student if student.ndim == 4 else student[:, :, None, None]
        x = self.project(x)
        if x.shape[-2:] != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=True)
        return x.reshape(len(x), *self.teacher_shape)

    def forward(self, student: Tensor, teacher: Tensor) -> Tensor:
        return feature_distance(self.adapt(student), teacher, self.p)
