"""The monitor's settings: round trip, clear errors, a private file, damaged files set aside at start-up, and
property tests (Hypothesis): any bytes or JSON value loads as valid settings or fails with one SettingsError,
and start-up recovery never fails."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.settings import (
    MonitorSettings,
    SettingsError,
    load_settings,
    recover_settings,
    save_settings,
    settings_path,
)
from engine.backends import Backend
from engine.paths import data_dir

TEXT = st.text(st.characters(exclude_categories=()), max_size=12)  # surrogates and control characters too
JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=8)
VALID = st.fixed_dictionaries({}, optional={
    "model_path": TEXT, "backend": st.sampled_from(list(Backend)), "audible": st.booleans(),
    "device": st.sampled_from(["", "cpu", "cuda:1"]), "retention_days": st.integers(0, 36_500),
    "privacy_pause_min": st.integers(1, 120)})
SETTINGS_LIKE = VALID | st.builds(lambda valid, key, value: {**valid, key: value}, VALID, st.sampled_from(
    ["model_path", "backend", "device", "audible", "retention_days", "privacy_pause_min", "colour"]),
    JSON | st.integers())
PROPERTY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_settings_round_trip_and_clear_errors(tmp_path: Path) -> None:
    assert load_settings() == MonitorSettings()  # nothing saved yet
    saved = MonitorSettings(model_path=str(tmp_path / "m.safetensors"), backend="onnx", device="cpu",
                            audible=False, retention_days=30, privacy_pause_min=30)
    save_settings(saved)
    assert load_settings() == saved
    assert stat.S_IMODE(settings_path().stat().st_mode) == 0o600
    for text, message in [('{"backend": "quantum"}', "backend must be one of auto, torch, onnx, tensorrt"),
                          ('{"audible": "yes"}', "audible must be bool"),
                          ('{"retention_days": -1}', "retention_days must be 0 .keep everything. to 36500"),
                          ('{"privacy_pause_min": 0}', "privacy_pause_min must be 1–120 minutes, got 0"),
                          ('{"privacy_pause_min": 15.5}', "privacy_pause_min must be int, got 15.5"),
                          ('{"model_path": "a\\u0000b"}', "model_path contains a NUL character"),
                          ("\udcff", "not UTF-8 text")]:
        settings_path().write_bytes(text.encode("utf-8", "surrogateescape"))
        with pytest.raises(SettingsError, match=message):
            load_settings()


def test_a_damaged_file_is_set_aside_keeping_each_readable_setting(tmp_path: Path) -> None:
    model = str(tmp_path / "m.safetensors")
    damaged = json.dumps({"model_path": model, "backend": "quantum", "audible": False, "retention_days": "7"})
    settings_path().write_text(damaged)
    recovered, notice = recover_settings()
    assert recovered == MonitorSettings(model_path=model, audible=False) == load_settings()
    [aside] = data_dir().glob("settings.json.damaged-*")
    assert aside.read_text() == damaged and notice is not None and aside.name in notice
    assert "retention_days must be int, got '7'" in notice and "\n" not in notice
    settings_path().write_bytes(b"\x00\xff")
    assert recover_settings()[0] == MonitorSettings()
    assert recover_settings() == (MonitorSettings(), None)  # a good file is left alone


def loads_or_fails_cleanly(path: Path) -> None:
    """load_settings gives valid settings that survive a round trip, or one SettingsError naming the file."""
    try:
        loaded = load_settings(path)
    except SettingsError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        event("refused")
        return
    event("loaded")
    copy = path.with_name("copy.json")
    save_settings(loaded, copy)
    assert load_settings(copy) == loaded


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("settings")


@PROPERTY
@given(content=st.binary(max_size=300))
def test_any_bytes_load_as_settings_or_one_settings_error(folder: Path, content: bytes) -> None:
    path = folder / "settings.json"
    path.write_bytes(content)
    loads_or_fails_cleanly(path)


@PROPERTY
@given(value=JSON | SETTINGS_LIKE)
def test_any_json_value_loads_as_settings_or_one_settings_error(folder: Path, value: Any) -> None:
    path = folder / "settings.json"
    path.write_text(json.dumps(value), encoding="utf-8")
    loads_or_fails_cleanly(path)


@settings(PROPERTY, max_examples=200)
@given(value=st.binary(max_size=100) | SETTINGS_LIKE)
def test_start_up_recovery_never_fails(folder: Path, value: bytes | dict[str, Any]) -> None:
    path = folder / "recovered.json"
    path.write_bytes(value if isinstance(value, bytes) else json.dumps(value).encode())
    recovered, _ = recover_settings(path)
    assert load_settings(path) == recovered
