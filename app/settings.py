"""The monitor's own settings (which model, backend, device; audible alarms), kept as JSON in the user's data
directory next to the bed configuration."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.backends import Backend
from engine.errors import PainmonError
from engine.files import write_atomically
from engine.paths import DEMO_MODEL, data_dir


class SettingsError(PainmonError):
    """The settings file is invalid."""


@dataclass(frozen=True)
class MonitorSettings:
    """Model file (by default the bundled demo model), inference backend (a Backend name),
    device ("" lets the backend choose) and whether alarms sound. Raises ValueError for an unknown
    backend."""

    model_path: str = str(DEMO_MODEL)
    backend: str = str(Backend.AUTO)  # plain str: the JSON file holds the value
    device: str = ""
    audible: bool = True

    def __post_init__(self) -> None:
        if self.backend not in list(Backend):
            raise ValueError(f"backend must be one of {', '.join(Backend)}; got {self.backend!r}")

    @property
    def engine(self) -> tuple[str, str, str]:
        """What the inference worker is built from: model path, backend, device."""
        return self.model_path, self.backend, self.device


def settings_path() -> Path:
    """Default location of the settings file."""
    return data_dir() / "settings.json"


def load_settings(path: Path | None = None) -> MonitorSettings:
    """Read the settings; defaults when there is no file yet."""
    path = path or settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return MonitorSettings()
    except (OSError, json.JSONDecodeError) as exc:
        raise SettingsError(f"cannot read settings {path}: {exc}") from exc
    defaults = asdict(MonitorSettings())
    if not isinstance(data, dict) or set(data) - set(defaults):
        raise SettingsError(f"{path}: expected an object with fields {', '.join(defaults)}")
    for name, value in data.items():
        if type(value) is not type(defaults[name]):
            raise SettingsError(f"{path}: {name} must be {type(defaults[name]).__name__}, got {value!r}")
    try:
        return MonitorSettings(**data)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{path}: {exc}") from exc


def save_settings(settings: MonitorSettings, path: Path | None = None) -> None:
    """Write the settings atomically (engine.files)."""
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(asdict(settings), indent=2) + "\n")
