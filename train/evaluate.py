"""Predictions CSV files and `painmon train evaluate`: the papers' metrics, table, JSON and plots.

A predictions CSV has a header and one row per frame with the columns subject, sequence, frame, label and
prediction (extra columns are ignored). Labels are the papers' six pain levels 0–5; any source of
predictions in that format can be evaluated.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import PainmonError
from engine.files import replacing, write_atomically
from train.metrics import Evaluation, Metrics, evaluate
from train.report import subject_table, summary_table, write_report

COLUMNS = ("subject", "sequence", "frame", "label", "prediction")
LEVELS = range(6)
MAX_FRAME = 10**9
"""Largest frame number a predictions CSV may hold (frames are numbered from 0 or 1)."""
MAX_PREDICTION = 1000.0
"""Largest prediction, either way from 0, that is still a (poor) pain level: farther ones are not predictions
on the 0–5 scale, and their squares would overflow the metrics."""


class PredictionsFileError(PainmonError):
    """A predictions CSV is missing, unreadable, or holds a value that cannot be evaluated."""


class OutputError(PainmonError):
    """The JSON file or the report folder cannot be written."""


@dataclass(frozen=True)
class Predictions:
    """Frame-level labels and predictions, one array entry per CSV row, in file order."""

    subject: np.ndarray  # str
    sequence: np.ndarray  # str
    frame: np.ndarray  # int64
    label: np.ndarray  # float64, one of the levels 0–5
    prediction: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.label)

    def evaluate(self) -> Evaluation:
        """The papers' metrics of these predictions."""
        return evaluate(self.subject, self.label, self.prediction)

    def subject_rows(self, subject: str) -> np.ndarray:
        """Row indices of one subject's frames, ordered by sequence, then numeric frame number."""
        rows = np.flatnonzero(self.subject == subject)
        return rows[np.lexsort((self.frame[rows], self.sequence[rows]))]


def _text(raw: str | None, column: str, where: str) -> str:
    if raw is None or not raw.strip():
        raise PredictionsFileError(f"{where}: {column} is empty")
    return raw.strip()


def _number(raw: str | None, column: str, where: str) -> float:
    text = _text(raw, column, where)
    try:
        value = float(text)
    except ValueError:
        raise PredictionsFileError(f"{where}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise PredictionsFileError(f"{where}: {column} is {text!r}; every frame needs a finite value")
    return value


def _parse_row(row: dict[str, str | None], where: str) -> tuple[str, str, int, float, float]:
    subject = _text(row["subject"], "subject", where)
    sequence = _text(row["sequence"], "sequence", where)
    frame = _number(row["frame"], "frame", where)
    if not (frame.is_integer() and 0 <= frame <= MAX_FRAME):
        raise PredictionsFileError(f"{where}: frame {row['frame']!r} is not a whole number from 0 to "
                                   f"{MAX_FRAME}")
    label = _number(row["label"], "label", where)
    if not (label.is_integer() and label in LEVELS):
        raise PredictionsFileError(
            f"{where}: label {row['label']!r} is not one of the pain levels {', '.join(map(str, LEVELS))}"
        )
    prediction = _number(row["prediction"], "prediction", where)
    if abs(prediction) > MAX_PREDICTION:
        raise PredictionsFileError(f"{where}: prediction {row['prediction']!r} is not a pain level (0–5); "
                                   f"predictions beyond ±{MAX_PREDICTION:g} are refused")
    return subject, sequence, int(frame), label, prediction


def read_predictions(path: str | os.PathLike[str]) -> Predictions:
    """Read and validate a predictions CSV; bad input raises PredictionsFileError naming the line."""
    path = Path(path)
    rows: list[tuple[str, str, int, float, float]] = []
    first_seen: dict[tuple[str, str, int], int] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.DictReader(file, skipinitialspace=True)
            reader.fieldnames = [name.strip() for name in reader.fieldnames or []]
            missing = [name for name in COLUMNS if name not in reader.fieldnames]
            if missing:
                raise PredictionsFileError(
                    f"{path}: missing column(s) {', '.join(missing)}; a predictions CSV needs a header "
                    f"with {', '.join(COLUMNS)}"
                )
            for row in reader:
                where = f"{path}:{reader.line_num}"
                parsed = _parse_row(row, where)
                key = parsed[:3]
                if key in first_seen:
                    raise PredictionsFileError(
                        f"{where}: frame {key[2]} of {key[0]}/{key[1]} already appeared on line "
                        f"{first_seen[key]}"
                    )
                first_seen[key] = reader.line_num
                rows.append(parsed)
    except FileNotFoundError:
        raise PredictionsFileError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise PredictionsFileError(f"{path}: not a UTF-8 text file") from None
    except (OSError, csv.Error) as exc:
        raise PredictionsFileError(f"{path}: cannot read: {exc}") from None
    if not rows:
        raise PredictionsFileError(f"{path}: no frames after the header")
    subject, sequence, frame, label, prediction = zip(*rows, strict=True)
    return Predictions(
        subject=np.array(subject, dtype=str),
        sequence=np.array(sequence, dtype=str),
        frame=np.array(frame, dtype=np.int64),
        label=np.array(label, dtype=np.float64),
        prediction=np.array(prediction, dtype=np.float64),
    )


def write_predictions(path: str | os.PathLike[str], predictions: Predictions) -> None:
    """Write predictions as CSV (atomically; floats round-trip exactly)."""
    with replacing(path) as scratch, scratch.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        for row in zip(predictions.subject, predictions.sequence, predictions.frame,
                       predictions.label, predictions.prediction, strict=True):
            subject, sequence, frame, label, prediction = row
            writer.writerow((subject, sequence, int(frame), int(label), repr(float(prediction))))


def _json_metrics(metrics: Metrics) -> dict[str, float | None]:
    return {name: None if math.isnan(value) else value for name, value in metrics.as_dict().items()}


def evaluation_json(evaluation: Evaluation) -> dict:
    """The numbers of an evaluation as JSON-ready data; undefined values (NaN) become null."""
    return {
        "per_subject_mean": _json_metrics(evaluation.per_subject_mean),
        "pooled": _json_metrics(evaluation.pooled),
        "per_subject": {s: _json_metrics(m) for s, m in evaluation.per_subject.items()},
        "frames": evaluation.frames,
    }


def run(args: argparse.Namespace) -> int:
    """`painmon train evaluate PREDICTIONS [--json OUT] [--report DIR]`."""
    predictions = read_predictions(args.predictions)
    evaluation = predictions.evaluate()
    print(f"{len(evaluation.per_subject)} subjects, {evaluation.frames} frames: {args.predictions}\n")
    print(summary_table(evaluation))
    print()
    print(subject_table(predictions, evaluation))
    try:
        if args.json_out:
            text = json.dumps(evaluation_json(evaluation), indent=2, allow_nan=False)
            write_atomically(args.json_out, text)
            print(f"\nwrote {args.json_out}")
        if args.report:
            report = write_report(args.report, predictions, evaluation, source=Path(args.predictions).name)
            print(f"wrote {report}")
    except OSError as exc:
        raise OutputError(f"cannot write output: {exc}") from None
    return 0
