"""engine.files: atomic replacement of a file (synced, never half-written, private on request) and hashes."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

import pytest

from engine.files import file_sha256, replacing, write_atomically


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_new_file_replaces_the_old_one_only_when_complete(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError), replacing(tmp_path / "absent" / "here.csv"):
        pass  # like open(): the folder must exist
    path = tmp_path / "here.csv"
    with replacing(path) as scratch:
        assert scratch.parent == path.parent and scratch.exists() and not path.exists()
        scratch.write_text("first\n")
        assert not path.exists()  # nothing shows before the block ends
    assert path.read_text() == "first\n"
    inode = path.stat().st_ino
    with replacing(path) as scratch, scratch.open("w") as handle:
        handle.write("second\n")
        assert path.read_text() == "first\n"
    assert path.read_text() == "second\n" and path.stat().st_ino != inode  # renamed over the old file
    assert [p.name for p in tmp_path.iterdir()] == ["here.csv"]


def test_an_error_while_writing_keeps_the_old_file_and_no_scratch(tmp_path: Path) -> None:
    path = write_atomically(tmp_path / "run.json", '{"old": true}')
    with pytest.raises(RuntimeError, match="killed"), replacing(path) as scratch:
        scratch.write_text('{"new": ')
        raise RuntimeError("killed mid-write")
    assert path.read_text() == '{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_a_full_disk_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_atomically(tmp_path / "settings.json", b"old")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left on device"):
        write_atomically(path, b"new")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["settings.json"]


def test_private_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        shared = write_atomically(tmp_path / "predictions.csv", "a,b\n")
        private = write_atomically(tmp_path / "beds.json", "{}", private=True)
    finally:
        os.umask(old_umask)
    assert mode(shared) == 0o644  # what a plain open() would give under this umask
    assert mode(private) == 0o600


def test_writers_side_by_side_use_their_own_scratch_files(tmp_path: Path) -> None:
    path = tmp_path / "predictions.csv"
    with replacing(path) as first, replacing(path) as second:
        assert first != second
        first.write_text("one")
        second.write_text("two")
    assert path.read_text() == "one"  # the outer block ends last and wins, whole


def test_file_sha256_is_the_hash_of_the_bytes(tmp_path: Path) -> None:
    data = os.urandom(3 << 20)  # several read blocks
    path = write_atomically(tmp_path / "blob.bin", data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    assert file_sha256(write_atomically(tmp_path / "empty", b"")) == hashlib.sha256(b"").hexdigest()
