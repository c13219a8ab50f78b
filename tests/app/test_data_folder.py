"""The data folder's care on real files: JSON read with one-line reasons, damaged files set aside with their
SQLite companions, permissions made private (links left alone), old recordings deleted."""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path

import pytest

from app.data_folder import delete_files_before, make_private, read_json, set_aside
from engine.paths import data_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_new_data_folder_is_private() -> None:
    root = data_dir()
    assert mode(root) == 0o700 and mode(data_dir("video")) == 0o700


def test_make_private_fixes_folders_and_files_and_leaves_links_alone(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "video").mkdir(parents=True, mode=0o755)
    root.chmod(0o755)
    files = [root / "record.sqlite", root / "record.sqlite-wal", root / "video" / "bed.mp4"]
    for path in files:
        path.write_bytes(b"x")
        path.chmod(0o644)
    elsewhere = tmp_path / "shared.txt"
    elsewhere.write_text("not painmon's")
    elsewhere.chmod(0o644)
    (root / "link").symlink_to(elsewhere)
    assert make_private(root) == []
    assert [mode(p) for p in (root, root / "video", *files)] == [0o700, 0o700, 0o600, 0o600, 0o600]
    assert mode(elsewhere) == 0o644  # the link's target is not painmon's to change


def test_set_aside_keeps_the_file_and_its_sqlite_companions_under_a_dated_name(tmp_path: Path) -> None:
    path = tmp_path / "record.sqlite"
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).write_text(suffix or "main")
    first = set_aside(path)
    assert re.fullmatch(r"record\.sqlite\.damaged-\d{8}-\d{6}", first.name) and first.read_text() == "main"
    assert first.with_name(first.name + "-wal").read_text() == "-wal"
    assert not path.exists() and not path.with_name("record.sqlite-wal").exists()
    path.write_text("again")
    second = set_aside(path)  # within the same second: a second name, nothing overwritten
    assert second != first and second.read_text() == "again" and first.read_text() == "main"


@pytest.mark.parametrize(("content", "reason"), [
    (b"\xff\xfe", r"not UTF-8 text \(byte 0\)"),
    (b"{", r"not valid JSON \(line 1: Expecting property name"),
    (b"[" * 50_000, r"not valid JSON \(nested too deeply\)"),
    (b"1" * 5000, r"not valid JSON \(Exceeds the limit \(4300 digits\)"),
])
def test_read_json_gives_one_line_reasons(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "file.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=reason) as info:
        read_json(path)
    assert "\n" not in str(info.value)
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "missing.json")


def test_delete_files_before_keeps_newer_files(tmp_path: Path) -> None:
    old, new = tmp_path / "old.mp4", tmp_path / "new.mp4"
    for path in (old, new):
        path.write_bytes(b"video")
    os.utime(old, (time.time() - 3600,) * 2)
    assert delete_files_before(tmp_path, time.time() - 60) == [old]
    assert sorted(tmp_path.iterdir()) == [new]
    assert delete_files_before(tmp_path / "none", time.time()) == []
