"""Detect and align every frame of a data set once, and keep the crops on disk for all folds.

The cache lives under painmon's cache folder, in a subfolder keyed on the data set root and the aligner
settings (crop size, minimum face size, MTCNN thresholds): another model input size gets its own cache.
Work is split per sequence over a process pool; each finished sequence is written at once as
`parts/<subject>/<sequence>.npy` (uint8 crops, one row per frame, zeros where no face was found) and a
`.json` beside it (landmarks, boxes, probabilities and a fingerprint of the image files), so an interrupted
build resumes with the sequences it had not finished and a changed image invalidates its sequence.
When all sequences are done, `index.csv` lists every frame and `no_face.csv` the frames without a face.
With several faces in a frame, the one whose centre is nearest the image centre is kept (FACTS.md §2).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch
from tqdm import tqdm

from engine.align import align_face, similarity_transform, template_for
from engine.detector import FaceDetector
from engine.errors import PainmonError
from engine.files import replacing, write_atomically
from engine.paths import cache_dir

FORMAT = 1  # bump when the stored layout changes


class FrameLike(Protocol):
    """What the cache needs of a data set frame (train.unbc.FrameRecord has it)."""

    @property
    def subject(self) -> str: ...

    @property
    def sequence(self) -> str: ...

    @property
    def frame(self) -> int: ...

    @property
    def image(self) -> Path: ...


@dataclass(frozen=True)
class AlignSettings:
    """Everything that changes the crops: part of the cache key."""

    crop_size: tuple[int, int]  # (h, w) of the model input
    min_face_size: int = 40
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    factor: float = 0.709

    def key(self, root: Path) -> str:
        """Cache folder name for this data set root and these settings."""
        fields = {"root": str(Path(root).resolve()), "format": FORMAT, **asdict(self)}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class _Part:
    """One sequence: the unit of work, of resumption and of storage."""

    subject: str
    sequence: str
    frames: tuple[int, ...]
    images: tuple[str, ...]
    crops: Path
    meta: Path

    def fingerprint(self) -> str:
        """Hash of the frames' image names, sizes and modification times."""
        digest = hashlib.sha256()
        for frame, image in zip(self.frames, self.images, strict=True):
            stat = Path(image).stat()
            digest.update(f"{frame}:{Path(image).name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
        return digest.hexdigest()

    def is_done(self) -> bool:
        if not (self.meta.exists() and self.crops.exists()):
            return False
        meta = json.loads(self.meta.read_text())
        return meta["frames"] == list(self.frames) and meta["fingerprint"] == self.fingerprint()


_worker: dict[str, FaceDetector] = {}  # the detector of this worker process


def _init_worker(settings: AlignSettings) -> None:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    _worker["detector"] = FaceDetector(thresholds=settings.thresholds, factor=settings.factor)


def _align_part(part: _Part, settings: AlignSettings) -> int:
    """Detect and align one sequence and write its files; returns the number of frames without a face."""
    h, w = settings.crop_size
    crops = np.zeros((len(part.images), h, w, 3), dtype=np.uint8)
    found, probs = [], []
    boxes = np.full((len(part.images), 4), np.nan, dtype=np.float32)
    landmarks = np.full((len(part.images), 5, 2), np.nan, dtype=np.float32)
    for row, image in enumerate(part.images):
        frame = cv2.imread(image, cv2.IMREAD_COLOR)
        if frame is None:
            raise PainmonError(f"{image}: cannot read image")
        faces = _worker["detector"].detect(frame, settings.min_face_size)
        if not faces:
            found.append(False)
            probs.append(0.0)
            continue
        centre = np.array([frame.shape[1], frame.shape[0]], dtype=np.float32) / 2
        face = min(faces, key=lambda f: float(np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - centre)))
        crops[row] = align_face(frame, face.landmarks, settings.crop_size)
        found.append(True)
        probs.append(face.prob)
        boxes[row], landmarks[row] = face.box, face.landmarks
    part.crops.parent.mkdir(parents=True, exist_ok=True)
    with replacing(part.crops) as scratch, scratch.open("wb") as handle:
        np.save(handle, crops)
    meta = {"frames": list(part.frames), "fingerprint": part.fingerprint(), "found": found, "prob": probs,
            "box": _nan_to_none(boxes), "landmarks": _nan_to_none(landmarks)}
    write_atomically(part.meta, json.dumps(meta))
    return found.count(False)


class AlignedFrames:
    """The aligned crops of a data set, one row per frame in the order the frames were given."""

    def __init__(self, folder: Path, frames: Sequence[FrameLike], parts: list[_Part],
                 crop_size: tuple[int, int]) -> None:
        self.folder = folder
        self.crop_size = crop_size
        self.index_csv = folder / "index.csv"
        self.no_face_csv = folder / "no_face.csv"
        n = len(frames)
        self.found = np.zeros(n, dtype=bool)
        self.prob = np.zeros(n, dtype=np.float32)
        self.boxes = np.full((n, 4), np.nan, dtype=np.float32)
        self.landmarks = np.full((n, 5, 2), np.nan, dtype=np.float32)
        self._part_of_row = np.empty(n, dtype=np.int64)
        self._local_row = np.empty(n, dtype=np.int64)
        self._paths = [p.crops for p in parts]
        self._arrays: dict[int, np.ndarray] = {}
        rows_of = _rows_by_part(frames)
        for index, part in enumerate(parts):
            rows = rows_of[(part.subject, part.sequence)]
            meta = json.loads(part.meta.read_text())
            self._part_of_row[rows] = index
            self._local_row[rows] = np.arange(len(rows))
            self.found[rows] = meta["found"]
            self.prob[rows] = meta["prob"]
            self.boxes[rows] = np.array(meta["box"], dtype=np.float32).reshape(-1, 4)
            self.landmarks[rows] = np.array(meta["landmarks"], dtype=np.float32).reshape(-1, 5, 2)

    def __getstate__(self) -> dict[str, object]:
        """Pickled for a worker process on this machine: it maps the crop files itself."""
        return {**self.__dict__, "_arrays": {}}

    def crop_landmarks(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), 5, 2) float32 x, y of the five landmarks in the aligned crops (NaN without a face)."""
        return _landmarks_in_crops(self.landmarks, self.found, self.crop_size, rows)

    def crops(self, rows: np.ndarray) -> np.ndarray:
        """RGB uint8 crops (len(rows), h, w, 3) of the given frame rows."""
        rows = np.asarray(rows, dtype=np.int64)
        parts = self._part_of_row[rows]
        local = self._local_row[rows]
        out: np.ndarray | None = None
        for part in np.unique(parts):
            if part not in self._arrays:
                self._arrays[part] = np.load(self._paths[part], mmap_mode="r")
            array = self._arrays[part]
            if out is None:
                out = np.empty((len(rows), *array.shape[1:]), dtype=np.uint8)
            pick = parts == part
            out[pick] = array[local[pick]]
        if out is None:
            raise ValueError("no rows requested")
        return out

    def packed(self) -> PackedFrames:
        """Every crop in one in-memory array, for workers that do not see this machine's cache folder."""
        rows = np.arange(len(self.found))
        return PackedFrames(self.crops(rows), self.found, self.landmarks, self.crop_size)


@dataclass(frozen=True)
class PackedFrames:
    """The aligned crops of a data set in memory (what `AlignedFrames.packed` gives): the same reading
    methods, no files."""

    all_crops: np.ndarray  # uint8 (n, h, w, 3)
    found: np.ndarray  # bool (n,)
    landmarks: np.ndarray  # float32 (n, 5, 2) in frame pixels
    crop_size: tuple[int, int]

    def crops(self, rows: np.ndarray) -> np.ndarray:
        """RGB uint8 crops (len(rows), h, w, 3) of the given frame rows."""
        return self.all_crops[np.asarray(rows, dtype=np.int64)]

    def crop_landmarks(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), 5, 2) float32 x, y of the five landmarks in the aligned crops (NaN without a face)."""
        return _landmarks_in_crops(self.landmarks, self.found, self.crop_size, rows)


def _landmarks_in_crops(landmarks: np.ndarray, found: np.ndarray, crop_size: tuple[int, int],
                        rows: np.ndarray) -> np.ndarray:
    """The five landmarks of `rows` mapped into their crops by the transform that made each crop."""
    template = template_for(crop_size)
    out = np.full((len(rows), 5, 2), np.nan, dtype=np.float32)
    for i, row in enumerate(np.asarray(rows, dtype=np.int64)):
        if found[row]:
            matrix = similarity_transform(landmarks[row], template)
            out[i] = landmarks[row] @ matrix[:, :2].T + matrix[:, 2]
    return out


def _rows_by_part(frames: Sequence[FrameLike]) -> dict[tuple[str, str], list[int]]:
    rows: dict[tuple[str, str], list[int]] = {}
    for row, record in enumerate(frames):
        rows.setdefault((record.subject, record.sequence), []).append(row)
    return rows


def _nan_to_none(values: np.ndarray) -> list[object]:
    """Nested lists of the values with None for NaN (JSON has no NaN)."""
    cells = values.astype(object)
    cells[np.isnan(values)] = None
    return list(cells.tolist())


def _write_reports(cache: AlignedFrames, frames: Sequence[FrameLike]) -> None:
    landmark_cols = [f"landmark{i}_{axis}" for i in range(5) for axis in ("x", "y")]
    with replacing(cache.index_csv) as scratch, scratch.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["subject", "sequence", "frame", "image", "found", "prob",
                         "box_x1", "box_y1", "box_x2", "box_y2",
                         *landmark_cols])
        for row, record in enumerate(frames):
            numbers = [*cache.boxes[row], *cache.landmarks[row].ravel()]
            writer.writerow([record.subject, record.sequence, record.frame, record.image,
                             int(cache.found[row]), f"{cache.prob[row]:.4f}",
                             *("" if np.isnan(v) else f"{v:.2f}" for v in numbers)])
    with replacing(cache.no_face_csv) as scratch, scratch.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["subject", "sequence", "frame", "image"])
        for missing in np.flatnonzero(~cache.found):
            record = frames[int(missing)]
            writer.writerow([record.subject, record.sequence, record.frame, record.image])


def _context() -> BaseContext:
    """Forkserver where the platform has it: torch is imported once, in the server, not in every worker."""
    if "forkserver" not in get_all_start_methods():
        return get_context("spawn")
    context = get_context("forkserver")
    context.set_forkserver_preload(["train.align_cache"])
    return context


def build_cache(
    frames: Sequence[FrameLike],
    root: Path,
    settings: AlignSettings,
    *,
    cache_root: Path | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> AlignedFrames:
    """Align every frame (or resume an interrupted build) and return the cache.

    `root` is the data set root (part of the cache key); `cache_root` defaults to painmon's cache folder
    (`align/` under it); `workers` defaults to the number of CPU cores.
    """
    if not frames:
        raise PainmonError(f"{root}: no frames to align")
    folder = (cache_root or cache_dir("align")) / settings.key(root)
    folder.mkdir(parents=True, exist_ok=True)
    described = {"root": str(Path(root).resolve()), **asdict(settings)}
    write_atomically(folder / "settings.json", json.dumps(described))
    parts = []
    for (subject, sequence), rows in _rows_by_part(frames).items():
        stem = folder / "parts" / subject / sequence
        parts.append(_Part(subject, sequence, tuple(frames[r].frame for r in rows),
                           tuple(str(frames[r].image) for r in rows),
                           stem.with_suffix(".npy"), stem.with_suffix(".json")))
    todo = [p for p in parts if not p.is_done()]
    if todo:
        workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
        done_frames = sum(len(p.frames) for p in parts) - sum(len(p.frames) for p in todo)
        bar = tqdm(total=len(frames), initial=done_frames, desc="align faces", unit="frame",
                   disable=not progress, dynamic_ncols=True)
        with ProcessPoolExecutor(workers, mp_context=_context(), initializer=_init_worker,
                                 initargs=(settings,)) as pool:
            futures = {pool.submit(_align_part, part, settings): part for part in todo}
            try:
                for future in as_completed(futures):
                    future.result()
                    bar.update(len(futures[future].frames))
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        bar.close()
    cache = AlignedFrames(folder, frames, parts, settings.crop_size)
    _write_reports(cache, frames)
    missing = int((~cache.found).sum())
    if progress and missing:
        print(f"{missing} of {len(frames)} frames have no detectable face: listed in {cache.no_face_csv}")
    return cache
