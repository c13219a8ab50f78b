"""Checkpoints: exact round trip of weights and model card; clear errors for files that are not ours."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path

import hypothesis
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from engine.backbone_specs import BACKBONES
from engine.checkpoint import card_for, load_checkpoint, save_checkpoint
from engine.errors import ModelFileError
from engine.files import file_sha256
from engine.model import PainRegressor
from engine.model_card import CARD_KEY, FORMAT, FORMAT_KEY, ModelCard, read_card
from tests.helpers import examples, save_random_au_checkpoint, tampered_checkpoint


def _card(model: PainRegressor) -> ModelCard:
    return card_for(
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


AU_MODEL = {"aus": [4], "members": [{"backbone": "face_cnn_small", "pretrained": None}]}
"""Card fields making the small regressor's card an AU ensemble's."""
BAD_CARDS = {  # a card's fields as a file may hold them → the field the refusal names
    "a memory bomb of an input size": ({"input_size": [20000, 20000]},
                                       "input_size [20000, 20000] is not a size face_cnn_small takes"),
    "an empty input size": ({"input_size": [0, 0]}, "input_size [0, 0] is not a size"),
    "one side only": ({"input_size": [112]}, "input_size must be a list of 2 values"),
    "a negative side": ({"input_size": [-112, 96]}, "input_size [-112, 96] is not a size"),
    "sides as text": ({"input_size": ["112", "96"]}, "input_size[0] must be a whole number"),
    "another model's input size": ({"input_size": [224, 224]}, "input_size [224, 224] is not a size"),
    "not the size it was trained at": ({"input_size": [96, 96], "config": {"model": {"input_size": None}}},
                                       "input_size [96, 96] is not the size the model was trained at"),
    "members as text": ({"members": ["face_cnn_small"], "aus": [4]}, "members[0] must be an object"),
    "AUs on a plain regressor": ({"aus": [4, 6]}, "aus and members go together"),
    "an AU that FACS lacks": (AU_MODEL | {"aus": [4, 99]},
                              "aus[1] must be between 1 and 64"),
    "clinical use as text": ({"clinical_use": "no"}, "clinical_use must be true or false"),
    "a zero scale": ({"std": 0}, "std must be positive"),
    "a NaN mean": ({"mean": math.nan}, "mean must be a finite number"),
    "an unknown backbone": ({"backbone": "resnet_152"}, "backbone 'resnet_152' is not one of"),
    "weights painmon lacks": ({"pretrained": "imagenet"}, "pretrained 'imagenet' is not a weight set"),
    "a name that is a number": ({"name": 7}, "name must be text"),
}


@pytest.mark.parametrize("case", BAD_CARDS, ids=list(BAD_CARDS))
def test_a_card_outside_its_schema_is_refused_naming_the_field(small_checkpoint: Path, tmp_path: Path,
                                                               case: str) -> None:
    changes, message = BAD_CARDS[case]
    path = tampered_checkpoint(small_checkpoint, tmp_path / "bad.safetensors", card=changes)
    for read in (read_card, load_checkpoint):
        with pytest.raises(ModelFileError) as caught:
            read(path)
        assert str(caught.value).startswith(f"{path} has an invalid model card: {message}")
        assert "\n" not in str(caught.value)


def test_a_card_lacking_a_field_is_refused_naming_it(small_checkpoint: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.safetensors"
    with safe_open(small_checkpoint, framework="pt") as handle:
        card = json.loads(handle.metadata()[CARD_KEY])
    del card["trained_on"]
    save_file(load_file(small_checkpoint), path, metadata={FORMAT_KEY: FORMAT, CARD_KEY: json.dumps(card)})
    with pytest.raises(ModelFileError, match="invalid model card: model card lacks trained_on"):
        read_card(path)


def _set(name: str, value: torch.Tensor) -> Callable[[dict[str, torch.Tensor]], None]:
    return lambda tensors: tensors.__setitem__(name, value)


BAD_WEIGHTS = {  # tensors changed as a file may hold them → the refusal
    "a NaN weight": (lambda t: t["head.1.weight"].fill_(math.nan),
                     "is damaged: tensor head.1.weight holds NaN or infinite values"),
    "an infinite running variance": (lambda t: t["backbone.0.1.running_var"].fill_(math.inf),
                                     "is damaged: tensor backbone.0.1.running_var holds NaN or infinite"),
    "a tensor of another shape": (_set("head.1.weight", torch.zeros(1, 7)),
                                  "tensor head.1.weight is torch.float32 [1, 7], the card's model has "
                                  "torch.float32 [1, 50]"),
    "a tensor of another type": (_set("head.1.bias", torch.zeros(1, dtype=torch.float64)),
                                 "tensor head.1.bias is torch.float64 [1]"),
    "a missing tensor": (lambda t: t.pop("head.1.bias"), "it lacks tensor head.1.bias"),
    "a foreign tensor": (_set("payload", torch.zeros(3)), "it has tensor payload"),
}


@pytest.mark.parametrize("case", BAD_WEIGHTS, ids=list(BAD_WEIGHTS))
def test_weights_that_break_the_card_or_are_not_finite_are_refused(small_checkpoint: Path, tmp_path: Path,
                                                                   case: str) -> None:
    change, message = BAD_WEIGHTS[case]
    path = tampered_checkpoint(small_checkpoint, tmp_path / "bad.safetensors", tensors=change)
    with pytest.raises(ModelFileError) as caught:
        load_checkpoint(path)
    assert str(caught.value).startswith(f"{path} ") and message in str(caught.value)


def test_au_thresholds_must_be_probabilities(tmp_path: Path) -> None:
    source = save_random_au_checkpoint(tmp_path / "au.safetensors")
    path = tampered_checkpoint(source, tmp_path / "bad.safetensors",
                               tensors=lambda t: t["thresholds"].fill_(1.5))
    with pytest.raises(ModelFileError, match="its AU thresholds are not probabilities"):
        load_checkpoint(path)


# -- properties: whatever a card holds, reading it gives a card that passes its schema or a ValueError ----
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                 max_size=4),
                    max_leaves=10)
"""Any JSON value."""
NEAR_MISSES = st.one_of(st.lists(st.integers(-5, 400), max_size=3), st.lists(st.integers(10, 250), min_size=2,
                                                                              max_size=2),
                        st.sampled_from(list(BACKBONES)), st.booleans(), st.floats(100, 150),
                        st.lists(st.integers(-2, 70), max_size=3),
                        st.lists(st.fixed_dictionaries({"backbone": st.sampled_from([*BACKBONES, "x"]),
                                                        "pretrained": st.none() | st.text(max_size=5)}),
                                 max_size=2))
"""Values a card's fields nearly take: sizes, backbones, AU lists, members."""
REGRESSOR_CARD = json.loads(ModelCard("r", "1", "face_cnn_small", None, (112, 96), 128.0, 128.0, "-",
                                      created="2026-01-01T00:00:00+00:00").to_json())
AU_CARD = {**REGRESSOR_CARD, **AU_MODEL}
CARD_FIELDS = [f.name for f in dataclasses.fields(ModelCard)]


def parsed_or_refused(text: str) -> ModelCard | None:
    """The card `text` holds, or None when it is refused (ValueError); a card it gives passes the schema and
    reads back the same."""
    try:
        card = ModelCard.from_json(text)
    except ValueError:
        return None
    hypothesis.event("read")
    assert card.problem() is None and ModelCard.from_json(card.to_json()) == card
    return card


@examples(500)
@given(st.text() | JSON.map(json.dumps))
def test_any_text_is_a_card_or_refused(text: str) -> None:
    parsed_or_refused(text)


@examples(1000)
@given(base=st.sampled_from([REGRESSOR_CARD, AU_CARD]),
       changes=st.dictionaries(st.sampled_from([*CARD_FIELDS, "comment"]), JSON | NEAR_MISSES, max_size=3),
       removed=st.sets(st.sampled_from(CARD_FIELDS), max_size=2))
def test_a_card_with_fields_changed_or_removed_is_a_card_or_refused(base: dict, changes: dict,
                                                                    removed: set[str]) -> None:
    data = {name: value for name, value in {**base, **changes}.items() if name not in removed}
    parsed_or_refused(json.dumps(data))


@examples(150)
@given(changes=st.dictionaries(st.sampled_from(CARD_FIELDS), NEAR_MISSES | JSON, max_size=2))
def test_a_checkpoint_with_any_card_loads_or_is_a_model_file_error(small_checkpoint: Path, tmp_path: Path,
                                                                   changes: dict) -> None:
    path = tampered_checkpoint(small_checkpoint, tmp_path / "any.safetensors", card=changes)
    try:
        model, card = load_checkpoint(path)
    except ModelFileError:
        return
    hypothesis.event("loaded")
    assert model.input_size == card.input_size and card.problem() is None
