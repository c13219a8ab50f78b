"""The per-frame CSV: what `painmon analyze` writes, replay caches and exports, and replay reads back.

One row per frame: frame, time_s, score (empty for a gap), status (an engine.status.FrameStatus value),
the face box x1, y1, x2, y2 and the five landmarks (empty without a face), the face's quality (0–1),
quality_reason (why it is too low to score) and the model's applicability (≤ 1 inside its training faces;
empty where unknown), then for a model with an AU head one probability column per AU (`au04`, …, empty for
a gap). Files are read by column name: columns a reader does not know are ignored, so a later format can add
columns without breaking earlier files or readers, and an export can put columns of its own before these
(app.export: wall-clock time, seconds since the start, alarm and annotation events) and still be read back.

Format versions (FORMAT_VERSION; replay's cache keys include it, so cached tables of an older format are
analysed afresh):
  1  frame to the landmarks, and the AU columns;
  2  adds quality, quality_reason and applicability (read as empty from a format-1 file).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from engine.files import replacing
from engine.status import FrameStatus
from engine.types import Face, FrameResult

FORMAT_VERSION = 2
LANDMARKS = ("eye_left", "eye_right", "nose", "mouth_left", "mouth_right")  # MTCNN order, image left/right
BOX_COLUMNS = ("x1", "y1", "x2", "y2")
LANDMARK_COLUMNS = tuple(f"{point}_{axis}" for point in LANDMARKS for axis in "xy")
TRUST_COLUMNS = ("quality", "quality_reason", "applicability")
CSV_COLUMNS = ("frame", "time_s", "score", "status", *BOX_COLUMNS, *LANDMARK_COLUMNS, *TRUST_COLUMNS)
"""The columns of every per-frame CSV; a model with AUs adds one column per AU after them (au_column)."""
REQUIRED_COLUMNS = CSV_COLUMNS[:-len(TRUST_COLUMNS)]
"""The columns a per-frame CSV of any format has."""
_AU_COLUMN = re.compile(r"au(\d+)")


def au_column(au: int) -> str:
    """The CSV column of an AU's probability: au04 for AU4."""
    return f"au{au:02d}"


class ResultCsvWriter:
    """Writes one CSV row per `FrameResult`; score, geometry and AU cells stay empty where there is none.

    `aus`: the model's AU numbers; each gets a probability column after CSV_COLUMNS (none for a regressor).
    `leading`: the names of columns of the caller's own before CSV_COLUMNS; `write` takes their cells.
    """

    def __init__(self, handle: TextIO, aus: Sequence[int] = (), leading: Sequence[str] = ()) -> None:
        self._writer = csv.writer(handle)
        self._aus = tuple(aus)
        self._leading = len(leading)
        self._writer.writerow([*leading, *CSV_COLUMNS, *map(au_column, self._aus)])

    def write(self, result: FrameResult, leading: Sequence[str] = ()) -> None:
        """Append the row of one frame (`leading`: the cells of the leading columns)."""
        if len(leading) != self._leading:
            raise ValueError(f"{len(leading)} leading cells for {self._leading} leading columns")
        score = "" if math.isnan(result.score) else f"{result.score:.4f}"
        geometry = [""] * (len(BOX_COLUMNS) + len(LANDMARK_COLUMNS))
        if result.face is not None:
            geometry = [f"{v:.1f}" for v in (*result.face.box, *result.face.landmarks.reshape(-1))]
        aus = ["" if result.aus is None else f"{result.aus[au]:.4f}" for au in self._aus]
        trust = [_number(result.quality), result.quality_reason, _number(result.applicability)]
        self._writer.writerow([*leading, result.index, f"{result.timestamp:.4f}", score, str(result.status),
                               *geometry, *trust, *aus])


@dataclass(frozen=True)
class FrameTable:
    """Per-frame results as arrays: frame index, time (s from the start), score (NaN for gaps), status
    (FrameStatus values), face box x1, y1, x2, y2 (N×4) and landmarks (N×5×2), NaN where no face was found;
    the face's quality (NaN where unknown), quality_reason ("" when usable) and applicability (NaN where
    unknown); for a model with AUs the AU numbers (`au_numbers`) and their probabilities (`aus`, N×K, NaN
    for gaps)."""

    frame: np.ndarray
    t: np.ndarray
    score: np.ndarray
    status: np.ndarray
    box: np.ndarray
    landmarks: np.ndarray
    quality: np.ndarray
    quality_reason: np.ndarray
    applicability: np.ndarray
    au_numbers: tuple[int, ...] = ()
    aus: np.ndarray | None = None  # None when au_numbers is empty

    def __len__(self) -> int:
        return len(self.frame)

    @classmethod
    def from_columns(cls, t: np.ndarray, score: np.ndarray, status: np.ndarray,
                     frame: np.ndarray | None = None, *, quality: np.ndarray | None = None,
                     quality_reason: np.ndarray | None = None) -> FrameTable:
        """A table without face geometry (a recorded session keeps time, score, status and quality)."""
        n = len(t)
        return cls(np.arange(n) if frame is None else np.asarray(frame, dtype=np.int64),
                   np.asarray(t, dtype=np.float64), np.asarray(score, dtype=np.float64),
                   np.asarray(status, dtype=str), np.full((n, 4), math.nan), np.full((n, 5, 2), math.nan),
                   np.full(n, math.nan) if quality is None else np.asarray(quality, dtype=np.float64),
                   np.full(n, "") if quality_reason is None else np.asarray(quality_reason, dtype=str),
                   np.full(n, math.nan))

    def results(self) -> Iterator[FrameResult]:
        """The rows as FrameResults."""
        for i in range(len(self)):
            face = None
            if not np.isnan(self.box[i]).any():
                face = Face(self.box[i].astype(np.float32), self.landmarks[i].astype(np.float32), math.nan)
            yield FrameResult(int(self.frame[i]), float(self.t[i]), FrameStatus(self.status[i]),
                              float(self.score[i]), face, aus=self.aus_at(i), quality=float(self.quality[i]),
                              quality_reason=str(self.quality_reason[i]),
                              applicability=float(self.applicability[i]))

    def aus_at(self, index: int) -> dict[int, float] | None:
        """The AU probabilities of one frame (AU number → 0..1), None without AUs or without a face."""
        if self.aus is None or np.isnan(self.aus[index]).any():
            return None
        return dict(zip(self.au_numbers, self.aus[index].tolist(), strict=True))

    def write_csv(self, path: Path, *, private: bool = False,
                  leading: Mapping[str, Sequence[str]] | None = None) -> None:
        """Write the per-frame CSV (atomically, engine.files; `private`: readable by its owner only), with
        `leading` columns (name → one cell per row) first."""
        leading = leading or {}
        with replacing(path, private=private) as scratch, scratch.open("w", newline="") as handle:
            writer = ResultCsvWriter(handle, self.au_numbers, tuple(leading))
            for i, result in enumerate(self.results()):
                writer.write(result, [cells[i] for cells in leading.values()])

    @classmethod
    def read_csv(cls, path: Path) -> FrameTable:
        """Read a per-frame CSV by column name; ValueError naming the file if it is not one."""
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
        header = rows[0] if rows else []
        missing = [name for name in REQUIRED_COLUMNS if name not in header]
        if missing:
            found = ",".join(header) or "missing"
            raise ValueError(f"{path} is not a painmon per-frame CSV (header: {found}; missing "
                             f"{', '.join(missing)})")
        body = rows[1:]
        if any(len(row) != len(header) for row in body):
            raise ValueError(f"{path} has rows with a wrong number of cells")
        au_names = [name for name in header if _AU_COLUMN.fullmatch(name)]
        column = {name: [row[header.index(name)] for row in body] for name in header}
        for name in TRUST_COLUMNS:  # a format-1 file has none
            column.setdefault(name, [""] * len(body))
        try:
            unknown = sorted(set(column["status"]) - set(FrameStatus))
            if unknown:
                raise ValueError(f"unknown status {', '.join(unknown)}")
            return cls(np.array(column["frame"], dtype=np.int64), _numbers(column, ["time_s"])[:, 0],
                       _numbers(column, ["score"])[:, 0], np.array(column["status"], dtype=str),
                       _numbers(column, BOX_COLUMNS), _numbers(column, LANDMARK_COLUMNS).reshape(-1, 5, 2),
                       _numbers(column, ["quality"])[:, 0], np.array(column["quality_reason"], dtype=str),
                       _numbers(column, ["applicability"])[:, 0], tuple(int(name[2:]) for name in au_names),
                       _numbers(column, au_names) if au_names else None)
        except ValueError as error:
            raise ValueError(f"{path} is not a valid painmon per-frame CSV: {error}") from error


def _number(value: float) -> str:
    """A 0–1 measure as a CSV cell: empty for NaN (unknown)."""
    return "" if math.isnan(value) else f"{value:.3f}"


def _numbers(column: dict[str, list[str]], names: Sequence[str]) -> np.ndarray:
    """The named columns as an (n, len(names)) float64 array; empty cells are NaN."""
    cells = [[float(v) if v else math.nan for v in column[name]] for name in names]
    return np.array(cells, dtype=np.float64).reshape(len(names), -1).T.copy()
