"""Bed configuration: what each bed watches and when it alarms, kept as JSON in the user's data directory.

The file (`beds.json`) is written atomically (engine.files) and readable by its owner only (it names
patients): a crash while saving leaves the previous configuration. Loading validates everything and says
exactly what is wrong; names and labels are normalised to one line of text where they enter (file, dialog).
With no file yet, the ward has one simulated-patient bed, so the app works out of the box on any machine. At
start-up `recover_beds` never refuses: a damaged file is set aside and the ward starts with what could be
read from it, or the default ward.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import cv2

from app.alarms import AlarmConfig
from app.data_folder import read_json, replace_damaged, shown
from engine.errors import PainmonError
from engine.files import write_atomically
from engine.paths import data_dir

FILE_VERSION = 1
URL_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
MAX_NAME_LENGTH = 40
MAX_PATIENT_LENGTH = 64
MAX_SEED = 2**32 - 1
BED_ID = re.compile(r"[0-9a-f]{12}")
"""A bed id: 12 lowercase hex digits (`_new_bed_id`). It names recording files, so it never holds a path."""
_SURROGATES = re.compile("[\ud800-\udfff]")


class BedConfigError(PainmonError):
    """The bed configuration is invalid or cannot be read or written."""


class SourceKind(StrEnum):
    """Where a bed's video comes from."""

    CAMERA = "camera"
    FILE = "file"
    URL = "url"
    SIMULATED = "simulated"


@dataclass(frozen=True)
class Source:
    """A bed's video source. `location` is what `engine.sources.open_source` takes (camera index as text,
    file path or URL); it is empty for the simulated patient, whose face is rendered from `seed`.
    Raises ValueError for an invalid combination."""

    kind: SourceKind
    location: str = ""
    seed: int = 0

    def __post_init__(self) -> None:
        kind, location = SourceKind(self.kind), self.location
        object.__setattr__(self, "kind", kind)
        if not is_plain_text(location):
            raise ValueError(f"source location must be text without control characters: {shown(location)}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"the simulated patient's seed must be 0–{MAX_SEED}, got {self.seed}")
        if kind is SourceKind.CAMERA and not re.fullmatch("[0-9]{1,4}", location):
            raise ValueError(f"camera index must be a whole number ≥ 0, got {shown(location)}")
        if kind is SourceKind.FILE and not location.strip():
            raise ValueError("video file path is empty")
        if kind is SourceKind.URL and not location.lower().startswith(URL_SCHEMES):
            raise ValueError(f"stream URL must start with {', '.join(URL_SCHEMES)}; got {shown(location)}")
        if kind is SourceKind.SIMULATED and location:
            raise ValueError("the simulated patient takes a seed, not a location")

    @classmethod
    def camera(cls, index: int) -> Source:
        """A local camera by OpenCV index."""
        return cls(SourceKind.CAMERA, str(index))

    @classmethod
    def file(cls, path: str | Path) -> Source:
        """A video file, played as if live."""
        return cls(SourceKind.FILE, str(path))

    @classmethod
    def url(cls, url: str) -> Source:
        """An RTSP or HTTP(S) stream."""
        return cls(SourceKind.URL, url)

    @classmethod
    def simulated(cls, seed: int = 0) -> Source:
        """The procedurally rendered simulated patient."""
        return cls(SourceKind.SIMULATED, seed=seed)

    def describe(self) -> str:
        """A short human-readable name of the source."""
        if self.kind is SourceKind.CAMERA:
            return f"Camera {self.location}"
        if self.kind is SourceKind.FILE:
            return f"Video {Path(self.location).name}"
        if self.kind is SourceKind.URL:
            return self.location
        return f"Simulated patient (seed {self.seed})"


def _new_bed_id() -> str:
    return uuid.uuid4().hex[:12]


def normalise_text(text: str) -> str:
    """A name or label as painmon keeps it: one line, runs of white space as one space, no control
    characters, and U+FFFD for a lone surrogate (which is not text and cannot be saved)."""
    text = _SURROGATES.sub("\ufffd", text)
    text = "".join(c for c in text if c.isspace() or unicodedata.category(c) != "Cc")
    return " ".join(text.split())


def is_plain_text(text: str) -> bool:
    """True for text without control characters or lone surrogates."""
    return not _SURROGATES.search(text) and not any(unicodedata.category(c) == "Cc" for c in text)


@dataclass(frozen=True)
class BedConfig:
    """One bed. `bed_id` is stable across renames (the record keys history by it). Video recording is off
    unless the bed opts in (privacy). A video file plays once and the bed then says "video ended", unless
    `loop_video` plays it again. Raises ValueError for an invalid name, patient label or id, or a loop for a
    source that is not a file."""

    name: str
    source: Source
    alarms: AlarmConfig = field(default_factory=AlarmConfig)
    record_video: bool = False
    patient: str = ""
    bed_id: str = field(default_factory=_new_bed_id)
    loop_video: bool = False

    def __post_init__(self) -> None:
        if self.loop_video and self.source.kind is not SourceKind.FILE:
            raise ValueError(f"only a video file can loop, not a {self.source.kind} source")
        if not self.name.strip():
            raise ValueError("bed name is empty")
        for what, text, limit in (("bed name", self.name, MAX_NAME_LENGTH),
                                  ("patient label", self.patient, MAX_PATIENT_LENGTH)):
            if normalise_text(text) != text:
                raise ValueError(f"{what} must be one line of text without control characters: {shown(text)}")
            if len(text) > limit:
                raise ValueError(f"{what} is longer than {limit} characters: {shown(text)}")
        if not BED_ID.fullmatch(self.bed_id):
            raise ValueError(f"bed id must be 12 lowercase hex digits, got {shown(self.bed_id)}")


def beds_path() -> Path:
    """Default location of the bed configuration file."""
    return data_dir() / "beds.json"


def default_beds() -> list[BedConfig]:
    """The first-start ward: one simulated-patient bed."""
    return [BedConfig("Bed 1", Source.simulated(seed=1))]


def load_beds(path: Path | None = None) -> list[BedConfig]:
    """Read and validate the bed configuration; `default_beds()` when there is none yet."""
    path = path or beds_path()
    try:
        data = read_json(path)
    except FileNotFoundError:
        return default_beds()
    except ValueError as exc:
        raise BedConfigError(f"{path}: {exc}") from exc
    try:
        _check_keys(data, {"version", "beds"}, {"version", "beds"}, "the file")
        if data["version"] != FILE_VERSION:
            raise ValueError(f"unsupported version {shown(data['version'])} (this painmon reads "
                             f"{FILE_VERSION})")
        if not isinstance(data["beds"], list):
            raise ValueError("'beds' must be a list")
        beds = [_bed_from_dict(item, f"bed {i + 1}") for i, item in enumerate(data["beds"])]
        _check_unique(beds)
    except ValueError as exc:
        raise BedConfigError(f"{path}: {exc}") from exc
    return beds


def recover_beds(path: Path | None = None) -> tuple[list[BedConfig], str | None]:
    """The ward to start with, never refusing: `load_beds`, or for a damaged file the beds that can still be
    read from it (else the default ward), with the file set aside and a clean one saved. The second value
    says what happened, for a banner (None when the file was fine)."""
    path = path or beds_path()
    try:
        return load_beds(path), None
    except BedConfigError as exc:
        problem = str(exc)
    beds = _readable_beds(path)
    started = (f"the {len(beds)} bed(s) that could be read from it" if beds is not None
               else "the default ward (one simulated patient)")
    beds = default_beds() if beds is None else beds
    kept = replace_damaged(path, lambda: save_beds(beds, path))
    return beds, (f"The bed configuration could not be used — {problem}. {kept}; the ward started with "
                  f"{started}.")


def _readable_beds(path: Path) -> list[BedConfig] | None:
    """The valid beds of a damaged file (skipping invalid ones and clashes), or None when it holds no list
    of beds at all."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8", errors="replace"))
    except (OSError, ValueError, RecursionError):
        return None
    items = data.get("beds") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return None
    beds: list[BedConfig] = []
    for i, item in enumerate(items):
        try:
            bed = _bed_from_dict(item, f"bed {i + 1}")
            _check_unique([*beds, bed])
        except ValueError:
            continue
        beds.append(bed)
    return beds


def save_beds(beds: Iterable[BedConfig], path: Path | None = None) -> None:
    """Validate and write the bed configuration atomically."""
    beds = list(beds)
    path = path or beds_path()
    try:
        _check_unique(beds)
    except ValueError as exc:
        raise BedConfigError(str(exc)) from exc
    text = json.dumps({"version": FILE_VERSION, "beds": [_bed_to_dict(b) for b in beds]}, indent=2,
                      ensure_ascii=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, text + "\n", private=True)  # it names patients
    except OSError as exc:
        raise BedConfigError(f"cannot save bed configuration to {path}: {exc}") from exc


def list_cameras(max_index: int = 8) -> list[int]:
    """OpenCV indices 0..max_index-1 of cameras that open and deliver a frame."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # probing absent cameras warns
    found = []
    try:
        for index in range(max_index):
            capture = cv2.VideoCapture(index)
            try:
                if capture.isOpened() and capture.read()[0]:
                    found.append(index)
            finally:
                capture.release()
    finally:
        cv2.utils.logging.setLogLevel(level)
    return found


# -- JSON conversion ----------------------------------------------------------------------------------
_BED_KEYS = {"id", "name", "patient", "source", "alarms", "record_video", "loop_video"}
_SOURCE_KEYS = {"kind", "location", "seed"}
_ALARM_KEYS = {"threshold", "delay_s", "no_face_delay_s", "not_applicable_delay_s", "realarm_after_s"}


def _bed_to_dict(bed: BedConfig) -> dict[str, Any]:
    source = {"kind": str(bed.source.kind), "location": bed.source.location, "seed": bed.source.seed}
    alarms = {key: getattr(bed.alarms, key) for key in sorted(_ALARM_KEYS)}
    return {"id": bed.bed_id, "name": bed.name, "patient": bed.patient, "source": source, "alarms": alarms,
            "record_video": bed.record_video, "loop_video": bed.loop_video}


def _bed_from_dict(data: Any, where: str) -> BedConfig:
    """Build a bed from its JSON object; ValueError messages say which bed and which field."""
    if isinstance(data, dict) and isinstance(data.get("name"), str):
        where = f"{where} ({shown(data['name'])})"
    _check_keys(data, _BED_KEYS, {"name", "source"}, where)
    try:
        source = data["source"]
        _check_keys(source, _SOURCE_KEYS, {"kind"}, "source")
        kinds = [str(k) for k in SourceKind]
        if source["kind"] not in kinds:
            raise ValueError(f"source kind must be one of {', '.join(kinds)}; got {shown(source['kind'])}")
        alarms = data.get("alarms", {})
        _check_keys(alarms, _ALARM_KEYS, set(), "alarms")
        name = normalise_text(_typed(data["name"], str, "name"))
        return BedConfig(
            name=name,
            source=Source(SourceKind(source["kind"]),
                          _typed(source.get("location", ""), str, "source location"),
                          _typed(source.get("seed", 0), int, "source seed")),
            alarms=AlarmConfig(**{key: _typed(value, float, key) for key, value in alarms.items()}),
            record_video=_typed(data.get("record_video", False), bool, "record_video"),
            patient=normalise_text(_typed(data.get("patient", ""), str, "patient")),
            bed_id=_typed(data.get("id") or _id_for(name), str, "id"),
            loop_video=_typed(data.get("loop_video", False), bool, "loop_video"),  # absent before it existed
        )
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def _id_for(name: str) -> str:
    """The id of a bed written without one (by hand), from its name: the same at every start, so that its
    history and recordings stay together."""
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]


def _typed(value: Any, kind: type, name: str) -> Any:
    """Check a JSON value's type (ints count as floats; booleans count as nothing else)."""
    ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok, value = True, float(value)
    if not ok:
        raise ValueError(f"{name} must be {kind.__name__}, got {shown(value)}")
    return value


def _check_keys(data: Any, allowed: set[str], required: set[str], where: str) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a JSON object")
    if unknown := sorted(set(data) - allowed):
        raise ValueError(f"{where} has unknown field(s) {', '.join(map(shown, unknown))}")
    if missing := sorted(required - set(data)):
        raise ValueError(f"{where} lacks field(s) {', '.join(missing)}")


def _check_unique(beds: list[BedConfig]) -> None:
    for attribute, what in (("name", "name"), ("bed_id", "id")):
        values = [getattr(bed, attribute) for bed in beds]
        if duplicates := sorted({v for v in values if values.count(v) > 1}):
            raise ValueError(f"two beds have the same {what}: {', '.join(map(shown, duplicates))}")

