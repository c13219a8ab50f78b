"""Care of painmon's data folder (engine.paths.data_dir): its JSON files read without surprises (their values
shown in one-line messages), damaged files set aside instead of refusing to start, permissions that keep
patient data private, and old recordings deleted when the data-retention setting asks for it. No Qt.
"""

from __future__ import annotations

import json
import logging
import os
import reprlib
import stat
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.errors import PainmonError
from engine.files import PRIVATE_MODE, fsync

log = logging.getLogger(__name__)

_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 60
PRIVATE_FOLDER_MODE = 0o700
"""Permissions of the data folder and the folders in it: its owner only."""
SQLITE_COMPANIONS = ("-wal", "-shm")
"""Files SQLite keeps beside a database; they hold part of its content and move with it."""


def read_json(path: Path) -> Any:
    """A JSON file's value. FileNotFoundError when there is no file; ValueError with a one-line reason when it
    cannot be read or is not JSON (not UTF-8 text, bad syntax, nested too deeply, a number too long)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ValueError(f"cannot read it: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte {exc.start})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    except RecursionError as exc:
        raise ValueError("not valid JSON (nested too deeply)") from exc
    except ValueError as exc:  # e.g. an integer over Python's 4300-digit limit
        raise ValueError(f"not valid JSON ({' '.join(str(exc).split())})") from exc


def shown(value: object) -> str:
    """A value read from a file as an error message shows it: its repr (one line, whatever the value holds),
    shortened to about 60 characters."""
    return _SHOWN.repr(value)


def replace_damaged(path: Path, save_clean: Callable[[], object]) -> str:
    """Set a damaged file aside (`set_aside`) and save a clean one in its place; says, for a banner, where
    the damaged one was kept or why it could not be."""
    try:
        kept = f"It was kept as {set_aside(path).name}"
        save_clean()
    except (OSError, PainmonError) as exc:
        return f"It could not be set aside or replaced ({exc})"
    return kept


def set_aside(path: Path) -> Path:
    """Keep a damaged file out of the way without losing it: rename it (and SQLite's companion files beside
    it) to `<name>.damaged-<date>-<time>`; returns its new path. OSError if it cannot be renamed."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    copy = 1
    while aside.exists():
        copy += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{copy}")
    path.rename(aside)
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.rename(aside.with_name(aside.name + suffix))
    fsync(path.parent)
    return aside


def make_private(root: Path) -> list[str]:
    """Make the data folder readable by its owner only: the folder and the folders in it 0700, its files
    0600 (links are left alone). Returns what could not be changed, one line each (nothing when all is
    well)."""
    problems = []
    for folder, _, files in os.walk(root):
        entries = [(Path(folder, name), PRIVATE_MODE) for name in files]
        for path, mode in [(Path(folder), PRIVATE_FOLDER_MODE), *entries]:
            try:
                status = path.lstat()
                if not stat.S_ISLNK(status.st_mode) and stat.S_IMODE(status.st_mode) != mode:
                    path.chmod(mode)
            except OSError as exc:
                problems.append(f"cannot make {path} private: {exc.strerror}")
    for problem in problems:
        log.warning("%s", problem)
    return problems


def delete_files_before(folder: Path, cutoff: float) -> list[Path]:
    """Delete the files directly in `folder` last written before `cutoff` (Unix time); returns them."""
    deleted = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                path.unlink()
                deleted.append(path)
        except OSError as exc:
            log.warning("cannot delete %s: %s", path, exc.strerror)
    return deleted
