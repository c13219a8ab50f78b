"""Backbone registry and PainRegressor: shapes, score range, pretrained-weight handling offline."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from facenet_pytorch import InceptionResnetV1

from engine.backbone_specs import BACKBONES
from engine.backbones import build_backbone, weights_cache_path
from engine.errors import WeightsUnavailableError
from engine.model import PainRegressor
from tests.helpers import network_reachable


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch cache, so no weights file downloaded earlier is used."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


def test_registry_describes_both_backbones() -> None:
    irv1, small = BACKBONES["inception_resnet_v1"], BACKBONES["face_cnn_small"]
    assert (irv1.input_size, irv1.mean, irv1.std, irv1.feature_dim) == ((160, 160), 127.5, 128.0, 1792)
    assert set(irv1.pretrained) == {"casia-webface", "vggface2"}
    assert (small.input_size, small.mean, small.std) == ((112, 96), 128.0, 128.0)


@pytest.mark.parametrize("name", list(BACKBONES))
def test_regressor_describes_faces_with_its_backbones_declared_number_of_features(name: str) -> None:
    """The applicability features: the texture of the declared early stages, described_dim numbers a face,
    non-negative (mean absolute differences), and different for different faces."""
    spec = BACKBONES[name]
    model = PainRegressor(name).eval()
    faces = torch.rand(2, 3, *spec.input_size) * 255
    with torch.no_grad():
        scores, features = model.forward_with_features(faces)
        assert torch.equal(scores, model(faces))
    assert features.shape == (2, spec.described_dim)
    assert (features >= 0).all() and not torch.allclose(features[0], features[1])


@pytest.mark.parametrize("name", list(BACKBONES))
def test_backbone_maps_faces_to_features(name: str) -> None:
    spec = BACKBONES[name]
    backbone = build_backbone(name).eval()
    with torch.no_grad():
        features = backbone(torch.randn(3, 3, *spec.input_size))
    assert features.shape == (3, spec.feature_dim)
    assert torch.isfinite(features).all()


def test_inception_backbone_has_no_verification_layers() -> None:
    names = {name.split(".")[0] for name in build_backbone("inception_resnet_v1").state_dict()}
    assert names.isdisjoint({"last_linear", "last_bn", "logits"})
    assert "block8" in names


@pytest.mark.parametrize("name", list(BACKBONES))
def test_regressor_scores_lie_in_0_to_5(name: str) -> None:
    model = PainRegressor(name).eval()
    faces = torch.stack([torch.zeros(3, *model.input_size), torch.full((3, *model.input_size), 255.0)])
    with torch.no_grad():
        scores, embedding = model.forward_with_embedding(faces)
    assert scores.shape == (2,)
    assert embedding.shape == (2, 50)
    assert ((scores >= 0) & (scores <= 5)).all()


def test_head_bounds_scores_by_5_sigmoid() -> None:
    model = PainRegressor("face_cnn_small").eval()
    faces = torch.rand(4, 3, *model.input_size) * 255
    last = model.head[1]
    with torch.no_grad():
        scores, _ = model.forward_with_embedding(faces)
        assert torch.equal(model(faces), scores)
        # Saturate the last layer both ways: 5·sigmoid reaches, and never passes, both ends.
        last.bias.fill_(100.0)
        assert torch.equal(model(faces), torch.full((4,), 5.0))
        last.bias.fill_(-100.0)
        assert torch.allclose(model(faces), torch.zeros(4), atol=1e-30)


def test_regressor_keeps_normalisation_as_buffers() -> None:
    model = PainRegressor("inception_resnet_v1", embed_dim=20, dropout=0.3)
    state = model.state_dict()
    assert (float(state["mean"]), float(state["std"])) == (127.5, 128.0)
    assert model.embed[1].out_features == 20
    assert model.embed[0].p == 0.3


def test_unknown_backbone_or_weights_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown backbone 'resnet'"):
        PainRegressor("resnet")
    with pytest.raises(ValueError, match="no pretrained weights 'vggface2'"):
        build_backbone("face_cnn_small", "vggface2")


def test_offline_pretrained_request_explains_how_to_place_the_file(torch_home: Path) -> None:
    if network_reachable():
        pytest.skip("this machine can reach github.com; the test checks the offline message")
    with pytest.raises(WeightsUnavailableError) as caught:
        PainRegressor("inception_resnet_v1", pretrained="casia-webface")
    message = str(caught.value)
    assert "20180408-102900-casia-webface.pt" in message
    assert "https://github.com/timesler/facenet-pytorch/releases/download/" in message
    assert str(torch_home / "checkpoints" / "20180408-102900-casia-webface.pt") in message
    assert "place the file" in message


def test_manually_placed_weights_load_without_network(torch_home: Path) -> None:
    # A file in facenet-pytorch's format (its full model's state dict, logits for 8631 VGGFace2 ids).
    source = InceptionResnetV1(classify=True, num_classes=8631)
    path = weights_cache_path("vggface2")
    path.parent.mkdir(parents=True)
    torch.save(source.state_dict(), path)
    trunk = build_backbone("inception_resnet_v1", "vggface2")
    assert torch.equal(trunk.state_dict()["block8.conv2d.weight"], source.block8.conv2d.weight)
    assert torch.equal(trunk.state_dict()["conv2d_1a.bn.running_var"], source.conv2d_1a.bn.running_var)


def test_damaged_cached_weights_name_the_file(torch_home: Path) -> None:
    path = weights_cache_path("casia-webface")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a torch file")
    with pytest.raises(WeightsUnavailableError, match="delete it to download it again") as caught:
        build_backbone("inception_resnet_v1", "casia-webface")
    assert str(path) in str(caught.value)
