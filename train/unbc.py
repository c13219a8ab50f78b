"""UNBC-McMaster Shoulder Pain Expression Archive loader (a real copy or the synthetic twin), FACTS.md §3.

Layout under the root (each top folder may be nested twice, as in the Kaggle copy: `Images/Images/...`):

    Images/<subject>/<sequence>/<sequence><NNN>.png
    Frame_Labels/PSPI/<subject>/<sequence>/<sequence><NNN>_facs.txt     one number
    Frame_Labels/FACS/<subject>/<sequence>/<sequence><NNN>_facs.txt     0..n lines "<AU> <intensity>"
    AAM_landmarks/<subject>/<sequence>/<sequence><NNN>_aam.txt          66 lines "x y"
    Sequence_Labels/{AFF,OPR,SEN,VAS}/<subject>/<sequence>.txt         one number

Every image needs its three frame files and every sequence its four labels; a missing, surplus or malformed
file raises DatasetError naming it: a PSPI outside 0–16, an AU outside FACS's 1–64 or an intensity outside
0–5, an AAM file without its 66 points, an image too small to decode. Nothing is skipped silently: black
frames are found by their pixels and listed in `UnbcDataset.black_frames`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from engine.errors import PainmonError
from engine.files import write_atomically
from engine.paths import cache_dir
from engine.pspi import pspi_to_level

__all__ = [
    "SEQUENCE_LABELS",
    "SUBJECTS",
    "DatasetError",
    "FrameRecord",
    "UnbcDataset",
    "find_root",
    "load_unbc",
    "pspi_to_level",
    "read_aam",
    "read_facs",
    "read_number",
]

SUBJECTS: tuple[str, ...] = (
    "042-ll042", "043-jh043", "047-jl047", "048-aa048", "049-bm049", "052-dr052", "059-fn059", "064-ak064",
    "066-mg066", "080-bn080", "092-ch092", "095-tv095", "096-bg096", "097-gf097", "101-mg101", "103-jk103",
    "106-nm106", "107-hs107", "108-th108", "109-ib109", "115-jy115", "120-kz120", "121-vw121", "123-jh123",
    "124-dn124",
)
SEQUENCE_LABELS = ("AFF", "OPR", "SEN", "VAS")
TOP_FOLDERS = ("Images", "Frame_Labels", "AAM_landmarks", "Sequence_Labels")
BLACK_LEVEL = 8  # a frame whose brightest (downscaled) pixel is below this is black
AAM_POINTS = 66
MAX_COORDINATE = 1e6  # pixels: an AAM point farther out is not on a frame
MAX_PSPI = 16.0  # AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43 on FACS intensities 0–5 (AU43 0/1)
MAX_INTENSITY = 5.0  # FACS intensities A–E
FACS_AU_RANGE = range(1, 65)  # FACS action units: 1–46 face, 50–58 head, 61–64 eyes
_IGNORED = {"Thumbs.db", "desktop.ini"}  # file-manager litter, like hidden dot-files


class DatasetError(PainmonError):
    """The data set is missing, incomplete or has a malformed file (the message names it)."""


@dataclass(frozen=True)
class FrameRecord:
    """One labelled frame. aus maps AU number → FACS intensity (AU43, coded without one, is 1)."""

    subject: str
    sequence: str
    frame: int
    image: Path
    pspi: float
    level: int
    aus: dict[int, float]
    aam: Path


@dataclass
class UnbcDataset:
    """Frames in subject, sequence, numeric frame order; per-sequence AFF/OPR/SEN/VAS labels."""

    root: Path
    frames: list[FrameRecord]
    sequence_labels: dict[str, dict[str, float]]
    black_frames: list[Path] = field(default_factory=list)  # found black and dropped

    def subjects(self) -> list[str]:
        """Subject folder names in data-set order."""
        return list(dict.fromkeys(f.subject for f in self.frames))

    def by_subject(self, subject: str) -> list[FrameRecord]:
        """All frames of one subject (raises DatasetError for an unknown subject)."""
        frames = [f for f in self.frames if f.subject == subject]
        if not frames:
            raise DatasetError(f"no subject {subject!r} in {self.root}; it has {', '.join(self.subjects())}")
        return frames

    def level_counts(self) -> list[int]:
        """Number of frames at each pain level 0..5."""
        counts = Counter(f.level for f in self.frames)
        return [counts.get(level, 0) for level in range(6)]

    def summary(self) -> str:
        """One line for logs: sizes, dropped black frames and the level histogram."""
        return (f"{len(self.frames)} frames, {len(self.subjects())} subjects, "
                f"{len(self.sequence_labels)} sequences ({len(self.black_frames)} black frames dropped); "
                f"levels 0..5: {self.level_counts()}")


def find_root(path: Path) -> Path:
    """The folder holding `Images`: `path` itself or a folder up to two levels below it."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"data set folder not found: {path}")
    level = [path]
    for _ in range(3):
        for folder in level:
            if (folder / "Images").is_dir():
                return folder
        level = sorted(child for folder in level for child in _entries(folder).values() if child.is_dir())
    raise DatasetError(f"no UNBC-McMaster copy in {path}: no Images folder in it or up to two levels below")


def load_unbc(root: Path, drop_black: bool = True, *, progress: bool = False) -> UnbcDataset:
    """Read a UNBC-McMaster copy (or its synthetic twin) rooted at or just above `root`.

    drop_black: look at every image's pixels and leave black frames out (listed in `black_frames`).
    Raises DatasetError naming the first missing, surplus or malformed file.
    """
    base = find_root(root)
    images, frame_labels, landmarks, sequence_root = (_top(base, name) for name in TOP_FOLDERS)
    trees = {kind: _subfolder(frame_labels, kind) for kind in ("PSPI", "FACS")} | {"AAM": landmarks}
    label_trees = {kind: _subfolder(sequence_root, kind) for kind in SEQUENCE_LABELS}
    frames: list[FrameRecord] = []
    sequence_labels: dict[str, dict[str, float]] = {}
    subjects = _folders(images)
    for tree in (*trees.values(), *label_trees.values()):
        _expect(tree, set(subjects), "subject folder")
    for subject in tqdm(subjects, desc="reading labels", unit="subject", disable=not progress):
        sequences = _folders(images / subject)
        for tree in trees.values():
            _expect(tree / subject, set(sequences), "sequence folder")
        for tree in label_trees.values():
            _expect(tree / subject, {f"{s}.txt" for s in sequences}, "sequence label")
        for sequence in sequences:
            if sequence in sequence_labels:
                raise DatasetError(f"sequence name used by two subjects: {images / subject / sequence}")
            sequence_labels[sequence] = {
                kind: read_number(tree / subject / f"{sequence}.txt") for kind, tree in label_trees.items()
            }
            frames.extend(_read_sequence(images, trees, subject, sequence))
    if not frames:
        raise DatasetError(f"no frames under {images}")
    black: list[Path] = []
    if drop_black:
        flags = _black_flags(base, [f.image for f in frames], progress)
        black = [f.image for f, is_black in zip(frames, flags, strict=True) if is_black]
        frames = [f for f, is_black in zip(frames, flags, strict=True) if not is_black]
    return UnbcDataset(root=base, frames=frames, sequence_labels=sequence_labels, black_frames=black)


def read_aam(path: Path) -> np.ndarray:
    """The 66 AAM landmarks of a frame as a (66, 2) float32 array of x, y pixels."""
    rows = [line.split() for line in _read_text(path).splitlines() if line.strip()]
    try:
        points = np.array(rows, dtype=np.float64)
    except ValueError:
        points = np.empty((0,))
    if points.shape != (AAM_POINTS, 2):
        raise DatasetError(f"{path}: expected {AAM_POINTS} lines of two numbers (x y), found {len(rows)}")
    if not (np.abs(points) <= MAX_COORDINATE).all():  # also NaN; and what float32 would make infinite
        raise DatasetError(f"{path}: a point lies beyond {MAX_COORDINATE:g} pixels, or is not a number")
    return points.astype(np.float32)


def read_number(path: Path) -> float:
    """A file holding one number, e.g. '   0.0000000e+00'."""
    tokens = _read_text(path).split()
    if len(tokens) != 1:
        raise DatasetError(f"{path}: expected one number, found {len(tokens)} values")
    return _number(tokens[0], path)


def read_facs(path: Path) -> dict[int, float]:
    """AU → intensity from a FACS file (may be empty). AU43 is coded without intensity: it counts 1."""
    aus: dict[int, float] = {}
    for line_number, line in enumerate(_read_text(path).splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 2:
            found = line.strip()[:60]
            raise DatasetError(f"{path}:{line_number}: expected '<AU> <intensity>', found {found!r}")
        au_value, intensity = (_number(token, path) for token in tokens)
        au = int(au_value)
        if au != au_value:
            raise DatasetError(f"{path}:{line_number}: AU {au_value} is not a whole number")
        if au == 0:  # a '0 0' row codes "no AU"
            continue
        if au not in FACS_AU_RANGE or intensity > MAX_INTENSITY:
            raise DatasetError(f"{path}:{line_number}: AU {au} at intensity {intensity:g} is not a FACS code "
                               f"(AUs {FACS_AU_RANGE.start}–{FACS_AU_RANGE.stop - 1}, intensities 0–5)")
        if au in aus:
            raise DatasetError(f"{path}:{line_number}: AU {au} coded twice")
        aus[au] = 1.0 if au == 43 else intensity
    return aus


# ------------------------------------------------------------------------------------------- internals


def _entries(folder: Path) -> dict[str, Path]:
    """Entries of a folder by name, without hidden files and file-manager litter."""
    try:
        with os.scandir(folder) as it:
            return {e.name: Path(e.path) for e in it if not e.name.startswith(".") and e.name not in _IGNORED}
    except FileNotFoundError:
        raise DatasetError(f"missing folder: {folder}") from None
    except NotADirectoryError:
        raise DatasetError(f"expected a folder, found a file: {folder}") from None


def _folders(folder: Path) -> list[str]:
    """Sorted names of the sub-folders; a stray file is an error."""
    entries = _entries(folder)
    for path in entries.values():
        if not path.is_dir():
            raise DatasetError(f"unexpected file (a folder belongs here): {path}")
    if not entries:
        raise DatasetError(f"empty folder: {folder}")
    return sorted(entries)


def _top(base: Path, name: str) -> Path:
    """Top-level folder `name`, looking through the Kaggle copy's doubled nesting (`Images/Images`)."""
    folder = _subfolder(base, name)
    return folder / name if (folder / name).is_dir() else folder


def _subfolder(parent: Path, name: str) -> Path:
    folder = parent / name
    if not folder.is_dir():
        raise DatasetError(f"missing folder: {folder}")
    return folder


def _expect(folder: Path, names: set[str], what: str) -> None:
    """`folder` must hold exactly `names` (plus nothing but ignorable litter)."""
    present = set(_entries(folder))
    missing = sorted(names - present)
    if missing:
        raise DatasetError(f"missing {what}: {folder / missing[0]}" + _more(len(missing)))
    extra = sorted(present - names)
    if extra:
        raise DatasetError(f"unexpected {what} (no matching image): {folder / extra[0]}" + _more(len(extra)))


def _more(count: int) -> str:
    return f" (and {count - 1} more)" if count > 1 else ""


def _read_sequence(images: Path, trees: dict[str, Path], subject: str, sequence: str) -> list[FrameRecord]:
    folder = images / subject / sequence
    pattern = re.compile(re.escape(sequence) + r"(\d+)\.png")
    numbered: dict[int, Path] = {}
    for name, path in _entries(folder).items():
        match = pattern.fullmatch(name)
        if match is None:
            raise DatasetError(f"unexpected file (not {sequence}<NNN>.png): {path}")
        number = int(match.group(1))
        if number in numbered:
            raise DatasetError(f"frame {number} appears twice: {numbered[number]} and {path}")
        numbered[number] = path
    if not numbered:
        raise DatasetError(f"no frames in {folder}")
    stems = {path.stem for path in numbered.values()}
    _expect(trees["PSPI"] / subject / sequence, {f"{s}_facs.txt" for s in stems}, "PSPI label")
    _expect(trees["FACS"] / subject / sequence, {f"{s}_facs.txt" for s in stems}, "FACS label")
    _expect(trees["AAM"] / subject / sequence, {f"{s}_aam.txt" for s in stems}, "AAM landmark file")
    records = []
    for number in sorted(numbered):
        image = numbered[number]
        pspi_file = trees["PSPI"] / subject / sequence / f"{image.stem}_facs.txt"
        value = read_number(pspi_file)
        if value > MAX_PSPI:
            raise DatasetError(f"{pspi_file}: PSPI {value:g} is above {MAX_PSPI:g}, the largest there is")
        read_aam(trees["AAM"] / subject / sequence / f"{image.stem}_aam.txt")  # checked here, used later
        records.append(FrameRecord(
            subject=subject,
            sequence=sequence,
            frame=number,
            image=image,
            pspi=value,
            level=pspi_to_level(value),
            aus=read_facs(trees["FACS"] / subject / sequence / f"{image.stem}_facs.txt"),
            aam=trees["AAM"] / subject / sequence / f"{image.stem}_aam.txt",
        ))
    return records


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise DatasetError(f"missing file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"unreadable file: {path} ({exc})") from None


def _number(token: str, path: Path) -> float:
    try:
        value = float(token)
    except ValueError:
        raise DatasetError(f"{path}: {token[:40]!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise DatasetError(f"{path}: {token!r} is not a number >= 0")
    return value


def _is_black(path: Path) -> bool:
    try:
        image = cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_4)
    except cv2.error:  # OpenCV cannot shrink an image of under 4 pixels a side by 4
        raise DatasetError(f"image too small to be a video frame: {path}") from None
    if image is None:
        raise DatasetError(f"unreadable image: {path}")
    return int(image.max()) < BLACK_LEVEL


def _black_flags(root: Path, paths: list[Path], progress: bool) -> list[bool]:
    """Which images are black. Decoding every frame takes minutes on a small machine, so the answers are
    kept in painmon's cache, keyed by path, size and modification time; only new or changed files are read
    (on a few threads: OpenCV releases the GIL)."""
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    cache = cache_dir("unbc") / f"black-frames-{digest}.json"
    try:
        known: dict[str, list] = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}  # not written by this function: read every frame
    stamps = {str(p): _stamp(p) for p in paths}
    todo = [p for p in paths if known.get(str(p), [])[:2] != stamps[str(p)]]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        results = tqdm(pool.map(_is_black, todo), total=len(todo), desc="checking frames", unit="frame",
                       disable=not progress or not todo)
        known.update({str(p): [*stamps[str(p)], flag] for p, flag in zip(todo, results, strict=True)})
    if todo:
        write_atomically(cache, json.dumps({key: known[key] for key in stamps}))
    return [bool(known[str(p)][2]) for p in paths]


def _stamp(path: Path) -> list[int]:
    try:
        stat = path.stat()
    except OSError as exc:
        raise DatasetError(f"unreadable image: {path} ({exc.strerror})") from None
    return [stat.st_size, stat.st_mtime_ns]
