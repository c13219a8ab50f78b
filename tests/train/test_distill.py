"""Feature regression of FaceNet2ExpNet stage (a): the ‖·‖ₚᵖ loss, the adapter, layer lookup, crop fitting."""

from __future__ import annotations

import pytest
import torch

from engine.align import template_for
from engine.backbones import build_backbone
from train.config import ConfigError
from train.distill import (
    FEATURES,
    FeatureRegression,
    default_layer,
    feature_distance,
    feature_extractor,
    fit_crops,
    output_shape,
)


def test_feature_distance_is_the_mean_p_power_of_the_difference() -> None:
    student = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    teacher = torch.tensor([[0.0, 0.0], [5.0, 4.0]])
    # differences 1, 2, −2, 0
    assert feature_distance(student, teacher, 1).item() == pytest.approx((1 + 2 + 2 + 0) / 4)
    assert feature_distance(student, teacher, 2).item() == pytest.approx((1 + 4 + 4 + 0) / 4)
    assert feature_distance(teacher, student, 2).item() == pytest.approx(2.25)
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        feature_distance(student, teacher, 3)


def test_equal_shapes_need_no_adapter_and_the_loss_is_the_plain_distance() -> None:
    loss = FeatureRegression((2, 1, 1), (2, 1, 1), p=1)
    assert not list(loss.parameters())
    student = torch.tensor([[1.0, -1.0]])[:, :, None, None]
    teacher = torch.tensor([[0.5, 1.0]])[:, :, None, None]
    assert loss(student, teacher).item() == pytest.approx((0.5 + 2.0) / 2)


def test_the_adapter_maps_channels_and_size_to_the_teachers_and_learns() -> None:
    torch.manual_seed(0)
    loss = FeatureRegression((64, 4, 3), (1792, 3, 3), p=2)
    student = torch.randn(5, 64, 4, 3, requires_grad=True)
    assert loss.adapt(student).shape == (5, 1792, 3, 3)
    value = loss(student, torch.randn(5, 1792, 3, 3))
    value.backward()
    assert loss.project.weight.grad is not None and loss.project.weight.grad.abs().sum() > 0
    assert student.grad is not None and student.grad.abs().sum() > 0
    # A pooled teacher layer: a map is projected and averaged down to the teacher's vector.
    pooled = FeatureRegression((128, 7, 6), (512,), p=1)
    assert pooled.adapt(torch.randn(2, 128, 7, 6)).shape == (2, 512)
    # A 1×1 projection of a constant map followed by the resize is still constant.
    constant = pooled.adapt(torch.ones(1, 128, 7, 6))
    flat = FeatureRegression((128,), (512,), p=1)
    flat.load_state_dict(pooled.state_dict())
    assert torch.allclose(constant, flat.adapt(torch.ones(1, 128)), atol=1e-5)


@pytest.mark.parametrize(("source", "target"), [((112, 96), (160, 160)), ((56, 48), (112, 96)),
                                                 ((160, 160), (112, 96))])
def test_fitted_crops_put_the_landmarks_where_the_target_template_has_them(
    source: tuple[int, int], target: tuple[int, int]
) -> None:
    crops = torch.zeros(5, 1, *source)
    for k, (x, y) in enumerate(template_for(source)):
        crops[k, 0, round(y) - 1:round(y) + 2, round(x) - 1:round(x) + 2] = 255.0  # a 3×3 dot on landmark k
    fitted = fit_crops(crops, target)
    assert fitted.shape == (5, 1, *target)
    rows, cols = torch.meshgrid(torch.arange(target[0]), torch.arange(target[1]), indexing="ij")
    for k, (x, y) in enumerate(template_for(target)):
        weight = fitted[k, 0] / fitted[k, 0].sum()
        centre = (float((weight * cols).sum()), float((weight * rows).sum()))
        assert abs(centre[0] - x) <= 1.0 and abs(centre[1] - y) <= 1.0, (k, centre, (x, y))
    same = torch.rand(1, 3, *source)
    assert fit_crops(same, source) is same


def test_default_layers_are_the_last_blocks_before_global_pooling() -> None:
    small, irv1 = build_backbone("face_cnn_small"), build_backbone("inception_resnet_v1")
    assert default_layer(small) == "6" and default_layer(irv1) == "block8"
    assert output_shape(feature_extractor(small, "", "student_layer"), (112, 96)) == (128, 7, 6)
    assert output_shape(feature_extractor(irv1, "", "teacher_layer"), (160, 160)) == (1792, 3, 3)
    assert output_shape(feature_extractor(irv1, "repeat_3.1", "teacher_layer"), (160, 160)) == (1792, 3, 3)
    assert output_shape(feature_extractor(irv1, "avgpool_1a", "teacher_layer"), (160, 160)) == (1792, 1, 1)


def test_a_wrong_layer_name_lists_the_backbones_blocks() -> None:
    with pytest.raises(ConfigError, match=r"'pool5' is not a layer.*\(0, 1, 2, 3, 4, 5, 6, 7, 8\)"):
        feature_extractor(build_backbone("face_cnn_small"), "pool5", "student_layer")
    with pytest.raises(ConfigError, match=r"teacher_layer = 'conv5_3'.*repeat_3, block8, avgpool_1a"):
        feature_extractor(build_backbone("inception_resnet_v1"), "conv5_3", "teacher_layer")


def test_the_extractor_shares_the_backbones_modules_and_stops_at_the_layer() -> None:
    torch.manual_seed(0)
    backbone = build_backbone("face_cnn_small")
    extractor = feature_extractor(backbone, "2", "student_layer")
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    optimizer = torch.optim.SGD(extractor.parameters(), lr=0.1)
    extractor(torch.randn(4, 3, 56, 48))[FEATURES].square().mean().backward()
    optimizer.step()
    after = backbone.state_dict()
    assert not torch.equal(after["0.0.weight"], before["0.0.weight"])  # trained through the extractor
    assert not torch.equal(after["2.body.0.0.weight"], before["2.body.0.0.weight"])
    later = [k for k in before if k.split(".")[0] in {"3", "4", "5", "6"}]
    assert later and all(torch.equal(after[k], before[k]) for k in later)  # beyond the layer: untouched
    assert {k.split(".")[0] for k in extractor.state_dict()} == {"0", "1", "2"}
