"""The monitor's own settings (which model, backend, device; audible alarms; how long records are kept; how
long a privacy pause lasts), kept as JSON in the user's data directory next to the bed configuration. At
start-up `recover_settings` never refuses: a damaged file is set aside and the monitor starts with what could
be read from it, or the defaults."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.data_folder import read_json, replace_damaged, shown
from engine.backends import Backend
from engine.errors import PainmonError
from engine.files import write_atomically
from engine.paths import DEMO_MODEL, data_dir

MAX_RETENTION_DAYS = 36_500
PRIVACY_PAUSE_MIN = (1, 120)
"""Allowed privacy-pause lengths in minutes."""


class SettingsError(PainmonError):
    """The settings file is invalid."""


@dataclass(frozen=True)
class MonitorSettings:
    """Model file (by default the bundled demo model), inference backend (a Backend name), device ("" lets
    the backend choose), whether alarms sound, and data retention: records' sessions and recordings older
    than `retention_days` are deleted (0, the default: kept until deleted by hand); how long a privacy pause
    lasts before monitoring resumes on its own. Raises ValueError for an unknown backend, a retention or
    pause out of range, or a path or device with a NUL character."""

    model_path: str = str(DEMO_MODEL)
    backend: str = str(Backend.AUTO)  # plain str: the JSON file holds the value
    device: str = ""
    audible: bool = True
    retention_days: int = 0
    privacy_pause_min: int = 15

    def __post_init__(self) -> None:
        if self.backend not in list(Backend):
            raise ValueError(f"backend must be one of {', '.join(Backend)}; got {shown(self.backend)}")
        if not 0 <= self.retention_days <= MAX_RETENTION_DAYS:
            raise ValueError(f"retention_days must be 0 (keep everything) to {MAX_RETENTION_DAYS}, "
                             f"got {self.retention_days}")
        low, high = PRIVACY_PAUSE_MIN
        if not low <= self.privacy_pause_min <= high:
            raise ValueError(f"privacy_pause_min must be {low}–{high} minutes, got {self.privacy_pause_min}")
        for name in ("model_path", "device"):
            if "\x00" in getattr(self, name):
                raise ValueError(f"{name} contains a NUL character")

    @property
    def engine(self) -> tuple[str, str, str]:
        """What the inference worker is built from: model path, backend, device."""
        return self.model_path, self.backend, self.device

    def with_engine(self, engine: tuple[str, str, str]) -> MonitorSettings:
        """These settings with another model path, backend and device (an `engine` tuple)."""
        model_path, backend, device = engine
        return dataclasses.replace(self, model_path=model_path, backend=backend, device=device)


def settings_path() -> Path:
    """Default location of the settings file."""
    return data_dir() / "settings.json"


def load_settings(path: Path | None = None) -> MonitorSettings:
    """Read the settings; defaults when there is no file yet; SettingsError (one line) for a damaged one."""
    path = path or settings_path()
    try:
        data = read_json(path)
    except FileNotFoundError:
        return MonitorSettings()
    except ValueError as exc:
        raise SettingsError(f"cannot read settings {path}: {exc}") from exc
    defaults = asdict(MonitorSettings())
    if not isinstance(data, dict) or set(data) - set(defaults):
        raise SettingsError(f"{path}: expected an object with fields {', '.join(defaults)}")
    for name, value in data.items():
        if type(value) is not type(defaults[name]):
            raise SettingsError(f"{path}: {name} must be {type(defaults[name]).__name__}, got {shown(value)}")
    try:
        return MonitorSettings(**data)
    except ValueError as exc:
        raise SettingsError(f"{path}: {exc}") from exc


def recover_settings(path: Path | None = None) -> tuple[MonitorSettings, str | None]:
    """The settings to start with, never refusing: `load_settings`, or for a damaged file each setting that
    can still be read from it (the others at their defaults), with the file set aside and a clean one saved.
    The second value says what happened, for a banner (None when the file was fine)."""
    path = path or settings_path()
    try:
        return load_settings(path), None
    except SettingsError as exc:
        problem = str(exc)
    settings = _readable_settings(path)
    kept = replace_damaged(path, lambda: save_settings(settings, path))
    return settings, (f"The settings could not be used — {problem}. {kept}; the monitor started with the "
                      f"settings that could be read from it and the defaults for the rest.")


def _readable_settings(path: Path) -> MonitorSettings:
    """The defaults, with every setting of a damaged file that is valid on its own."""
    settings = MonitorSettings()
    try:
        data: Any = read_json(path)
    except (OSError, ValueError):
        return settings
    defaults = asdict(settings)
    for name, value in data.items() if isinstance(data, dict) else ():
        if name in defaults and type(value) is type(defaults[name]):
            try:
                settings = dataclasses.replace(settings, **{name: value})
            except ValueError:
                continue
    return settings


def save_settings(settings: MonitorSettings, path: Path | None = None) -> None:
    """Write the settings atomically (engine.files), readable by their owner only."""
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(asdict(settings), indent=2) + "\n", private=True)
