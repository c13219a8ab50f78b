"""What each backbone painmon has expects and gives (input size, normalisation, features), without torch:
model cards and training configs are checked against it by a runtime that has no torch."""

from __future__ import annotations

from dataclasses import dataclass

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
