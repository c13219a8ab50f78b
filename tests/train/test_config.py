"""Training configs: one file per table row and per seed method, each method's own section, and errors that
name the file and the problem."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.au import DEFAULT_AUS
from engine.backbone_specs import BACKBONES
from engine.errors import PainmonError
from tests.helpers import ROOT, examples, run_painmon
from train.config import (
    METHOD_SECTIONS,
    SECTIONS,
    ConfigError,
    SolverConfig,
    config_from_dict,
    load_config,
)
from train.losses import LossConfig
from train.methods import METHODS

CONFIGS = ROOT / "train" / "configs"
PAPERS_SOLVER = SolverConfig(lr=1e-4, momentum=0.9, weight_decay=5e-4, batch_size=64, iterations=5000,
                             mirror=True, seed=0)
"""FACTS.md §4: the solver of every paper row."""

# (file, regression, regularizer, center norm, sampling) per row of paper 000's Tables 1 and 2
TABLE_ROWS = [
    ("smooth_l1", "smooth_l1", "none", None, False),
    ("l1_softmax", "l1", "softmax", None, False),
    ("smooth_l1_softmax", "smooth_l1", "softmax", None, False),
    ("l1_l1center", "l1", "center", 1, False),
    ("smooth_l1_l1center", "smooth_l1", "center", 1, False),
    ("smooth_l1_l2center", "smooth_l1", "center", 2, False),
    ("l1_l1center_sampling", "l1", "center", 1, True),
    ("smooth_l1_l1center_sampling", "smooth_l1", "center", 1, True),
]
SEED_METHODS = {"saliency": "saliency", "saliency_global": "saliency", "fn2en": "fn2en", "au_pspi": "au"}
"""Config file stem → method of papers 002, 003 and 004."""


def _load(tmp_path: Path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_config(path)


@pytest.mark.parametrize(("stem", "regression", "regularizer", "norm", "sampling"), TABLE_ROWS)
def test_one_config_per_table_row_with_the_papers_solver(
    stem: str, regression: str, regularizer: str, norm: int | None, sampling: bool
) -> None:
    config = load_config(CONFIGS / f"{stem}.toml")
    assert config.method == "regression"
    assert config.loss.regression == regression
    assert config.loss.regularizer == regularizer
    if regression == "smooth_l1":
        assert config.loss.turning_point == 1.0
    if regularizer == "center":
        assert (config.loss.center_norm, config.loss.weight) == (norm, 0.01)
    if regularizer == "softmax":
        assert config.loss.weight == 1.0
    assert config.sampling.eliminate_redundant is sampling and config.sampling.uniform_classes is sampling
    assert config.solver == PAPERS_SOLVER
    assert (config.model.backbone, config.model.pretrained) == ("inception_resnet_v1", "casia-webface")


def test_every_config_file_is_a_table_row_a_seed_method_or_the_demo() -> None:
    stems = {p.stem for p in CONFIGS.glob("*.toml")}
    assert stems == {row[0] for row in TABLE_ROWS} | set(SEED_METHODS) | {"demo"}
    for stem, method in SEED_METHODS.items():
        assert load_config(CONFIGS / f"{stem}.toml").method == method
    names = [load_config(p).name for p in CONFIGS.glob("*.toml")]
    assert len(set(names)) == len(names)
    demo = load_config(CONFIGS / "demo.toml")
    assert (demo.model.backbone, demo.model.pretrained) == ("face_cnn_small", None)


@pytest.mark.parametrize(("stem", "local"), [("saliency", True), ("saliency_global", False)])
def test_paper_002_configs_are_its_methods_1_and_2(stem: str, local: bool) -> None:
    config = load_config(CONFIGS / f"{stem}.toml")
    assert config.saliency.local is local
    assert (config.model.backbone, config.model.pretrained) == ("inception_resnet_v1", "casia-webface")
    assert config.loss == LossConfig(regression="smooth_l1", turning_point=1.0, regularizer="center",
                                     center_norm=1, weight=0.01)
    assert config.sampling.uniform_classes and config.sampling.eliminate_redundant
    assert config.solver == PAPERS_SOLVER
    assert (config.saliency.global_lr, config.saliency.local_lr, config.saliency.patch) == (0.001, 0.01, 11)


def test_the_fn2en_config_is_a_small_net_under_a_pretrained_face_net_with_the_papers_best_row() -> None:
    config = load_config(CONFIGS / "fn2en.toml")
    best = load_config(CONFIGS / "smooth_l1_l1center_sampling.toml")
    assert (config.model.backbone, config.model.pretrained) == ("face_cnn_small", None)
    f = config.fn2en
    assert (f.teacher_backbone, f.teacher_pretrained) == ("inception_resnet_v1", "vggface2")
    assert not f.teacher_checkpoint
    assert (f.teacher_layer, f.student_layer, f.p) == ("block8", "6", 2)
    assert (config.loss, config.sampling, config.solver) == (best.loss, best.sampling, best.solver)


def test_the_au_config_is_paper_003_on_two_face_recognition_pretrainings_with_the_papers_solver() -> None:
    config = load_config(CONFIGS / "au_pspi.toml")
    assert config.au.member_specs() == [("inception_resnet_v1", "vggface2"),
                                        ("inception_resnet_v1", "casia-webface")]
    assert config.au.aus == (4, 6, 7, 9, 10, 12, 20, 25, 26, 43)
    assert config.au.ml_ros and config.au.selective_learning and config.au.validation_subjects == 3
    assert config.solver == PAPERS_SOLVER


def test_the_method_defaults_to_the_papers_regression_and_reads_its_own_section(tmp_path: Path) -> None:
    assert _load(tmp_path, 'name = "x"\n').method == "regression"
    config = _load(tmp_path, 'name = "x"\nmethod = "au"\n[au]\naus = [4, 43]\nmembers = ["face_cnn_small"]\n')
    assert (config.method, config.au.aus, config.au.members) == ("au", (4, 43), ("face_cnn_small",))
    assert _load(tmp_path, 'name = "x"\nmethod = "au"\n').au.aus == DEFAULT_AUS


@pytest.mark.parametrize(("text", "message"), [
    ('name = "x"\n[loss]\nregresion = "l1"\n', "unknown setting"),
    ('name = "x"\n[loss]\nregression = "huber"\n', "loss.regression must be one of"),
    ('name = "x"\n[solver]\nbatch_size = 0\n', "must be positive"),
    ('name = "x"\n[optimiser]\nlr = 1\n', "unknown section"),
    ('[loss]\nregression = "l1"\n', "`name`"),
    ('name = "x"\nloss = 3\n', "must be a table"),
    ("name = \n", "not valid TOML"),
    ('name = "x"\nmethod = "magic"\n', "unknown method 'magic' \\(choose from regression, "),
    ('name = "x"\n[saliency]\nalpha = 1\n', "saliency do not apply to method 'regression'"),
    ('name = "x"\nmethod = "au"\n[fn2en]\np = 1\n', "fn2en do not apply to method 'au'"),
    ('name = "x"\n[au]\npresence = 1\n', "do not apply to method 'regression'"),
    ('name = "x"\nmethod = "au"\n[au]\nthreshold = 1\n', r"\[au\]: unknown setting\(s\) threshold"),
    ('name = "x"\nmethod = "au"\n[au]\nmembers = ["resnet_152"]\n', "unknown backbone 'resnet_152'"),
    ('name = "x"\nmethod = "au"\n[au]\nmembers = ["face_cnn_small:vggface2"]\n', "no pretrained weights"),
    ('name = "x"\nmethod = "saliency"\n[saliency]\npatch = 10\n', "patch odd"),
    ('name = "x"\nmethod = "saliency"\n[saliency]\nlocal_lr = 0\n', "must be positive"),
])
def test_bad_configs_name_the_file_and_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, PainmonError)


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found") as info:
        load_config(tmp_path / "missing.toml")
    assert str(tmp_path / "missing.toml") in str(info.value)


def test_every_method_a_config_can_name_is_implemented() -> None:
    assert set(METHODS) == set(METHOD_SECTIONS)


def test_records_keep_only_the_chosen_methods_section_and_read_back_the_same(tmp_path: Path) -> None:
    regression = _load(tmp_path, 'name = "x"\n')
    assert not {"saliency", "fn2en", "au"} & set(regression.to_dict())
    au = _load(tmp_path, 'name = "x"\nmethod = "au"\n[au]\naus = [4, 43]\n')
    assert {"saliency", "fn2en", "au"} & set(au.to_dict()) == {"au"}
    for config in (regression, au):
        assert config_from_dict(json.loads(json.dumps(config.to_dict()))) == config


BAD_SETTINGS = {  # a config's text after its name → the error
    "batch size as text": ('[solver]\nbatch_size = "32"\n',
                           r"\[solver\]: batch_size must be a whole number, got '32'"),
    "rate as text": ('[solver]\nlr = "0.01"\n', r"\[solver\]: lr must be a finite number, got '0.01'"),
    "fractional batch size": ("[solver]\nbatch_size = 2.5\n",
                              r"\[solver\]: batch_size must be a whole number, got 2.5"),
    "batch size as a float": ("[solver]\nbatch_size = 1e8\n",
                              r"\[solver\]: batch_size must be a whole number, got 100000000.0"),
    "memory bomb of a batch": ("[solver]\nbatch_size = 100_000_000\n",
                               r"\[solver\]: batch_size must be positive and <= 4096, got 100000000"),
    "negative momentum": ("[solver]\nmomentum = -3\n", r"\[solver\]: momentum must be >= 0 and < 1, got -3"),
    "NaN rate": ("[solver]\nlr = nan\n", r"\[solver\]: lr must be a finite number, got nan"),
    "negative seed": ("[solver]\nseed = -1\n", r"\[solver\]: seed must be between 0 and 4294967295, got -1"),
    "mirror as text": ('[solver]\nmirror = "no"\n', r"\[solver\]: mirror must be true or false, got 'no'"),
    "dropout over 1": ("[model]\ndropout = 5\n", r"\[model\]: dropout must be >= 0 and < 1, got 5"),
    "memory bomb of an input size": ("[model]\ninput_size = [8000, 8000]\n",
                                     r"\[model\]: input_size \[8000, 8000\] is not a size "
                                     r"inception_resnet_v1 takes \(h 75..320, w 75..320 pixels\)"),
    "one side only": ("[model]\ninput_size = [112]\n",
                      r"\[model\]: input_size must be a list of 2 values, got \[112\]"),
    "unknown backbone": ('[model]\nbackbone = "resnet_152"\n', r"\[model\]: unknown backbone 'resnet_152'"),
    "negative minimum face": ("[align]\nmin_face_size = -10\n",
                              r"\[align\]: min_face_size must be >= 12, got -10"),
    "boolean run length": ("[sampling]\nmax_run = true\n",
                           r"\[sampling\]: max_run must be a whole number, got True"),
    "AU that FACS lacks": ('method = "au"\n[au]\naus = [4, 99]\n',
                           r"\[au\]: aus\[1\] must be between 1 and 64, got 99"),
    "input size the members refuse": ('method = "au"\n[model]\ninput_size = [56, 48]\n',
                                      r"\[model\]: input_size \[56, 48\] is not a size inception_resnet_v1"),
    "method as a number": ("method = 3\n", "unknown method 3"),
}


@pytest.mark.parametrize("case", BAD_SETTINGS, ids=list(BAD_SETTINGS))
def test_settings_of_the_wrong_type_or_out_of_range_are_named(tmp_path: Path, case: str) -> None:
    text, message = BAD_SETTINGS[case]
    path = tmp_path / "bad.toml"
    path.write_text(f'name = "x"\n{text}')
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}") and "\n" not in str(info.value)


def test_an_au_ensemble_of_small_nets_takes_their_small_input_size(tmp_path: Path) -> None:
    config = _load(tmp_path, 'name = "x"\nmethod = "au"\n[model]\ninput_size = [56, 48]\n'
                             '[au]\nmembers = ["face_cnn_small", "face_cnn_small"]\n')
    assert config.model.input_size == (56, 48) and config.backbones() == ["face_cnn_small"] * 2


@pytest.mark.parametrize(("content", "message"), [
    (bytes(range(256)) * 4, "not a config file (not UTF-8 text)"),
    (b'name = "x"\nseed = ' + b"9" * 5000 + b"\n", "not valid TOML"),
    (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "not valid TOML"),
], ids=["binary", "a number too long to read", "nested too deep"])
def test_a_file_that_is_not_toml_is_refused_in_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: {message}") and "\n" not in str(info.value)


def test_a_bad_config_file_or_iteration_count_is_refused_before_any_work(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_bytes(bytes(range(256)))
    result = run_painmon("train", "loso", "--data", tmp_path / "nowhere", "--config", config, "--out",
                         tmp_path / "run")
    assert (result.returncode, result.stderr) == (
        2, f"painmon: error: {config}: not a config file (not UTF-8 text)\n")
    result = run_painmon("train", "loso", "--data", tmp_path / "nowhere", "--config", CONFIGS / "demo.toml",
                         "--out", tmp_path / "run", "--iterations", "0")
    assert (result.returncode, result.stderr) == (2, "painmon: error: --iterations must be positive, got 0\n")
    assert not (tmp_path / "run").exists()


# -- properties: whatever a config holds, reading it gives a valid config or a ConfigError naming the file --
VALUES = st.one_of(st.booleans(), st.integers(), st.integers(-5, 5000), st.floats(), st.text(max_size=10),
                   st.sampled_from(["face_cnn_small", "inception_resnet_v1", "vggface2", "l1", "center"]),
                   st.lists(st.integers(-5, 400), max_size=3), st.lists(st.text(max_size=15), max_size=3),
                   st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
"""Values TOML can hold, and the near misses of real settings."""
SECTION_CLASSES = {**SECTIONS, **{name: cls for name, cls in METHOD_SECTIONS.items() if cls is not None}}


def section(cls: type) -> st.SearchStrategy[dict]:
    """A config section: some of its settings (or unknown ones) with any values."""
    names = [f.name for f in dataclasses.fields(cls)]
    return st.dictionaries(st.sampled_from([*names, "typo"]), VALUES, max_size=3)


CONFIGS_DATA = st.fixed_dictionaries(
    {"name": st.text(max_size=8) | st.integers()},
    optional={"method": st.sampled_from([*METHOD_SECTIONS, "magic"]) | st.integers(),
              **{name: section(cls) | VALUES for name, cls in SECTION_CLASSES.items()}})


@examples(1000)
@given(CONFIGS_DATA)
def test_any_settings_give_a_valid_config_or_a_config_error(data: dict) -> None:
    try:
        config = config_from_dict(data, "fuzzed.toml")
    except ConfigError as error:
        assert str(error).startswith("fuzzed.toml") and "\n" not in str(error)
        return
    hypothesis.event("read")
    assert config_from_dict(json.loads(json.dumps(config.to_dict()))) == config
    size = config.model.input_size
    assert size is None or all(BACKBONES[b].accepts(size) for b in config.backbones())


@examples(300)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_file_is_a_config_or_a_config_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "any.toml"
    path.write_bytes(content)
    try:
        load_config(path)
    except ConfigError as error:
        assert str(error).startswith(str(path)) and "\n" not in str(error)
        return
    hypothesis.event("read")
