"""Files that are never seen half-written, and their hashes.

Every file painmon writes for later (settings, beds, checkpoints, snapshots, run records, predictions,
caches, exports) goes through `replacing`: the new content is written to a scratch file beside the target,
synced to disk, and renamed over the target, and the folder is synced so that the rename survives a power
loss. A reader, a crash or a full disk leaves the old file or the new one, never part of one. Scratch names
are unique per process and call, so processes sharing a folder (folds spread over machines) never write
into each other's scratch file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

PRIVATE_MODE = 0o600
"""Permissions of a private file (patient data): readable and writable by its owner only."""


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str], *, private: bool = False) -> Iterator[Path]:
    """A scratch path to write the new version of `path` to; when the block ends without an error, the
    scratch file is synced and renamed to `path`. On an error it is removed and `path` is untouched. Like
    `open`, it needs the folder to exist (OSError otherwise).

    The scratch file exists (empty) when the block starts; with `private` it is readable by its owner only,
    else it gets the usual permissions (the umask's).
    """
    path = Path(path)
    scratch = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
    os.close(os.open(scratch, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_MODE if private else 0o666))
    try:
        yield scratch
        fsync(scratch)
        scratch.replace(path)
    finally:
        scratch.unlink(missing_ok=True)
    fsync(path.parent)


def write_atomically(path: str | os.PathLike[str], data: str | bytes, *, private: bool = False) -> Path:
    """Write text (UTF-8) or bytes to `path` through `replacing`; returns the path."""
    with replacing(path, private=private) as scratch:
        if isinstance(data, str):
            scratch.write_text(data, encoding="utf-8")
        else:
            scratch.write_bytes(data)
    return Path(path)


def fsync(path: Path) -> None:
    """Flush a file's content, or a folder's entries (POSIX; Windows cannot open folders), to the disk."""
    if path.is_dir() and os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY if path.is_dir() else os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def update_sha256(digest: hashlib._Hash, path: str | Path) -> None:
    """Feed a file's bytes to a running hash, a block at a time."""
    with Path(path).open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (what `sha256sum` prints)."""
    digest = hashlib.sha256()
    update_sha256(digest, path)
    return digest.hexdigest()
