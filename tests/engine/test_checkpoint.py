"""Checkpoints: exact round trip of weights and model card; clear errors for files that are not ours."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from engine.checkpoint import (
    CARD_KEY,
    FORMAT,
    FORMAT_KEY,
    ModelCard,
    load_checkpoint,
    read_card,
    save_checkpoint,
)
from engine.errors import ModelFileError
from engine.files import file_sha256
from engine.model import PainRegressor


def _card(model: PainRegressor) -> ModelCard:
    return ModelCard.for_model(
        model,
        name="test-regressor",
        version="0.0.1",
        trained_on="nothing (random weights)",
        metrics={"MAE": 0.416, "per_subject": {"042-ll042": {"PCC": None}}},
        config={"loss": "smooth_l1", "lr": 1e-4},
    )


@pytest.fixture
def small_checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = PainRegressor("face_cnn_small")
    return save_checkpoint(tmp_path / "small.safetensors", model, _card(model))


@pytest.mark.parametrize("backbone", ["face_cnn_small", "inception_resnet_v1"])
def test_round_trip_keeps_weights_and_card_exactly(backbone: str, tmp_path: Path) -> None:
    model = PainRegressor(backbone)
    with torch.no_grad():  # non-default buffers too, so they are proven to travel
        model.embed[2].weight.fill_(0.3)
        next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)).running_var.uniform_(1, 2)
    card = _card(model)
    path = save_checkpoint(tmp_path / "sub" / "model.safetensors", model, card)
    loaded, loaded_card = load_checkpoint(path)
    assert loaded_card == card
    assert read_card(path) == card
    assert not loaded.training
    assert loaded.input_size == model.input_size
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    assert all(torch.equal(original[key], restored[key]) for key in original)


def test_card_json_round_trip_and_tuple_input_size() -> None:
    card = _card(PainRegressor("face_cnn_small"))
    text = card.to_json()
    assert json.loads(text)["input_size"] == [112, 96]
    again = ModelCard.from_json(text)
    assert again == card
    assert again.input_size == (112, 96)
    assert again.clinical_use is False


def test_card_must_describe_the_model(tmp_path: Path) -> None:
    model = PainRegressor("face_cnn_small")
    card = _card(model)
    card.input_size = (160, 160)
    with pytest.raises(ValueError, match="input_size"):
        save_checkpoint(tmp_path / "bad.safetensors", model, card)
    assert not list(tmp_path.iterdir())


def test_loading_does_not_fetch_pretrained_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    model = PainRegressor("inception_resnet_v1")
    model.pretrained = "casia-webface"  # as a model fine-tuned from those weights records it
    path = save_checkpoint(tmp_path / "irv1.safetensors", model, _card(model))
    loaded, card = load_checkpoint(path)
    assert card.pretrained == loaded.pretrained == "casia-webface"
    assert not (tmp_path / "empty-torch-home").exists()


def test_truncated_file_names_the_path(small_checkpoint: Path) -> None:
    data = small_checkpoint.read_bytes()
    small_checkpoint.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="damaged") as caught:
        load_checkpoint(small_checkpoint)
    assert str(small_checkpoint) in str(caught.value)


def test_random_bytes_name_the_path(tmp_path: Path) -> None:
    path = tmp_path / "noise.safetensors"
    path.write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8).numpy().tobytes())
    with pytest.raises(ModelFileError) as caught:
        load_checkpoint(path)
    assert str(path) in str(caught.value)


def test_foreign_safetensors_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.zeros(4, 4)}, path, metadata={"format": "pt"})
    with pytest.raises(ModelFileError, match="not a painmon checkpoint") as caught:
        read_card(path)
    assert str(path) in str(caught.value)
    with pytest.raises(ModelFileError, match="not a painmon checkpoint"):
        load_checkpoint(path)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found") as caught:
        load_checkpoint(tmp_path / "absent.safetensors")
    assert str(tmp_path / "absent.safetensors") in str(caught.value)


def test_weights_that_do_not_fit_the_card_are_refused(small_checkpoint: Path, tmp_path: Path) -> None:
    # A painmon card claiming a different backbone than the tensors in the file.
    card = read_card(small_checkpoint)
    card.backbone, card.input_size, card.mean, card.std = "inception_resnet_v1", (160, 160), 127.5, 128.0
    model, _ = load_checkpoint(small_checkpoint)
    path = tmp_path / "mismatch.safetensors"
    tensors = {key: value.contiguous() for key, value in model.state_dict().items()}
    save_file(tensors, path, metadata={FORMAT_KEY: FORMAT, CARD_KEY: card.to_json()})
    with pytest.raises(ModelFileError, match="does not match its model card") as caught:
        load_checkpoint(path)
    assert str(path) in str(caught.value)


def test_file_sha256_tracks_content(small_checkpoint: Path, tmp_path: Path) -> None:
    first = file_sha256(small_checkpoint)
    assert len(first) == 64
    assert file_sha256(small_checkpoint) == first
    model, card = load_checkpoint(small_checkpoint)
    with torch.no_grad():
        model.head[1].bias.add_(1.0)
    assert file_sha256(save_checkpoint(tmp_path / "changed.safetensors", model, card)) != first
