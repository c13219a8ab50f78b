"""Training configs choose a method; each method's section is validated and belongs to its method only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.au import DEFAULT_AUS
from train.config import METHOD_SECTIONS, ConfigError, config_from_dict, load_config
from train.methods import METHODS


def _load(tmp_path: Path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_config(path)


def test_the_method_defaults_to_the_papers_regression_and_reads_its_own_section(tmp_path: Path) -> None:
    assert _load(tmp_path, 'name = "x"\n').method == "regression"
    config = _load(tmp_path, 'name = "x"\nmethod = "au"\n[au]\naus = [4, 43]\nmembers = ["face_cnn_small"]\n')
    assert (config.method, config.au.aus, config.au.members) == ("au", (4, 43), ("face_cnn_small",))
    assert _load(tmp_path, 'name = "x"\nmethod = "au"\n').au.aus == DEFAULT_AUS


@pytest.mark.parametrize(("text", "message"), [
    ('name = "x"\nmethod = "magic"\n', "unknown method 'magic' \\(choose from regression, "),
    ('name = "x"\n[saliency]\nalpha = 1\n', "saliency do not apply to method 'regression'"),
    ('name = "x"\nmethod = "au"\n[fn2en]\np = 1\n', "fn2en do not apply to method 'au'"),
    ('name = "x"\nmethod = "au"\n[au]\nthreshold = 1\n', r"\[au\]: unknown setting\(s\) threshold"),
])
def test_wrong_methods_and_sections_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, text)



def test_every_method_a_config_can_name_is_implemented() -> None:
    assert set(METHODS) == set(METHOD_SECTIONS)


def test_records_keep_only_the_chosen_methods_section_and_read_back_the_same(tmp_path: Path) -> None:
    regression = _load(tmp_path, 'name = "x"\n')
    assert not {"saliency", "fn2en", "au"} & set(regression.to_dict())
    au = _load(tmp_path, 'name = "x"\nmethod = "au"\n[au]\naus = [4, 43]\n')
    assert {"saliency", "fn2en", "au"} & set(au.to_dict()) == {"au"}
    for config in (regression, au):
        assert config_from_dict(json.loads(json.dumps(config.to_dict()))) == config
