"""The AU ensemble (engine.au): PSPI from AUs, the level lookup, the ensemble's outputs and its checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from engine.au import DEFAULT_AUS, AUPainModel, level_from_pspi, pspi_from_aus
from engine.checkpoint import card_for, load_checkpoint, save_checkpoint
from engine.errors import ModelFileError
from engine.model_card import CARD_KEY, read_card
from engine.pspi import pspi, pspi_to_level

SIZE = (56, 48)


def test_pspi_from_aus_is_the_facs_formula_and_missing_aus_count_zero() -> None:
    rng = np.random.default_rng(0)
    frames = [{au: float(rng.integers(0, 6)) if au != 43 else float(rng.integers(0, 2)) for au in DEFAULT_AUS}
              for _ in range(50)]
    intensity = torch.tensor([[f[a] for a in DEFAULT_AUS] for f in frames])
    np.testing.assert_allclose(pspi_from_aus(intensity, DEFAULT_AUS).numpy(), [pspi(f) for f in frames])
    # AU4 = 2, AU6 = 1, AU7 = 3, AU10 = 2, AU43 = 1 and no AU9 column: 2 + 3 + 2 + 1
    only = torch.tensor([[2.0, 1.0, 3.0, 2.0, 1.0]])
    assert pspi_from_aus(only, (4, 6, 7, 10, 43)).item() == 8.0


def test_level_from_pspi_matches_the_papers_lookup_at_whole_values_and_is_monotone() -> None:
    whole = torch.arange(0.0, 17.0)
    assert level_from_pspi(whole).tolist() == [pspi_to_level(v) for v in range(17)]
    fine = level_from_pspi(torch.linspace(0, 16, 321))
    assert torch.all(fine[1:] >= fine[:-1]) and fine.min() == 0 and fine.max() == 5
    assert level_from_pspi(torch.tensor([2.5, 5.5])).tolist() == [2.5, 4.5]


def _ensemble() -> AUPainModel:
    torch.manual_seed(0)
    return AUPainModel([("face_cnn_small", None), ("face_cnn_small", None)], input_size=SIZE).eval()


def test_the_ensemble_averages_its_members_and_scores_pspi_of_expected_intensities() -> None:
    model = _ensemble()
    x = torch.rand(4, 3, *SIZE) * 255
    with torch.no_grad():
        scores, probs = model.forward_with_aus(x)
        members = [torch.sigmoid(m(x)) for m in model.members]
    assert probs.shape == (4, len(DEFAULT_AUS))
    torch.testing.assert_close(probs, (members[0] + members[1]) / 2)
    # Members certain that every AU is present: PSPI = AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43 intensities
    for member in model.members:
        torch.nn.init.zeros_(member.head[1].weight)
        torch.nn.init.constant_(member.head[1].bias, 20.0)
    model.intensity.copy_(torch.tensor([1.0, 0.5, 1.5, 0.2, 0.4, 3.0, 3.0, 3.0, 3.0, 1.0]))
    with torch.no_grad():
        scores, probs = model.forward_with_aus(x)
    assert torch.allclose(probs, torch.ones_like(probs))
    expected = level_from_pspi(torch.tensor(1.0 + 1.5 + 0.4 + 1.0))  # 3.9
    torch.testing.assert_close(scores, expected.expand(4))
    torch.testing.assert_close(model(x), scores)


def test_bad_au_lists_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one member"):
        AUPainModel([])
    with pytest.raises(ValueError, match="without repeats"):
        AUPainModel([("face_cnn_small", None)], aus=(4, 4))


def test_an_au_checkpoint_keeps_members_aus_thresholds_and_intensities(tmp_path: Path) -> None:
    model = _ensemble()
    model.thresholds.copy_(torch.linspace(0.2, 0.7, len(DEFAULT_AUS)))
    model.intensity.copy_(torch.linspace(1.0, 3.0, len(DEFAULT_AUS)))
    path = save_checkpoint(tmp_path / "au.safetensors", model,
                           card_for(model, name="au test", version="1", trained_on="nothing"))
    card = read_card(path)
    assert card.aus == list(DEFAULT_AUS)
    assert card.members == [{"backbone": "face_cnn_small", "pretrained": None}] * 2
    loaded, _ = load_checkpoint(path)
    assert isinstance(loaded, AUPainModel) and loaded.aus == DEFAULT_AUS and loaded.input_size == SIZE
    torch.testing.assert_close(loaded.thresholds, model.thresholds)
    x = torch.rand(3, 3, *SIZE) * 255
    with torch.no_grad():
        for got, want in zip(loaded.forward_with_aus(x), model.forward_with_aus(x), strict=True):
            torch.testing.assert_close(got, want)


def test_a_card_that_does_not_match_the_ensemble_is_refused(tmp_path: Path) -> None:
    model = _ensemble()
    card = card_for(model, name="au test", version="1", trained_on="nothing")
    card.aus = [4, 6]
    with pytest.raises(ValueError, match="aus"):
        save_checkpoint(tmp_path / "bad.safetensors", model, card)


def test_an_au_checkpoint_whose_card_lost_a_member_is_a_model_file_error(tmp_path: Path) -> None:
    model = _ensemble()
    path = save_checkpoint(tmp_path / "au.safetensors", model,
                           card_for(model, name="au test", version="1", trained_on="nothing"))
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    card = json.loads(metadata[CARD_KEY])
    card["members"] = card["members"][:1]
    save_file(load_file(str(path)), str(path), metadata={**metadata, CARD_KEY: json.dumps(card)})
    with pytest.raises(ModelFileError, match="does not match its model card"):
        load_checkpoint(path)
