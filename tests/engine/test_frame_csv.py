"""engine.frame_csv: the per-frame CSV is read by column name, whatever the order, with clear errors."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from engine.frame_csv import CSV_COLUMNS, FORMAT_VERSION, REQUIRED_COLUMNS, FrameTable, au_column
from engine.status import FrameStatus


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_columns_are_found_by_name_in_any_order_and_unknown_ones_are_ignored(tmp_path: Path) -> None:
    header = [*reversed(CSV_COLUMNS), "a_later_column", au_column(4)]
    values = {"frame": "7", "time_s": "0.2333", "score": "2.5000", "status": "ok", "x1": "10.0",
              "mouth_right_y": "99.5", "quality": "0.9", "quality_reason": "", "applicability": "0.25",
              au_column(4): "0.7500"}
    row = [values.get(name, "1.0") for name in header]
    table = FrameTable.read_csv(write_rows(tmp_path / "later-format.csv", header, [row]))
    assert table.frame.tolist() == [7] and table.t.tolist() == [0.2333] and table.score.tolist() == [2.5]
    assert table.status.tolist() == ["ok"] and table.box[0, 0] == 10.0 and table.landmarks[0, 4, 1] == 99.5
    assert table.quality.tolist() == [0.9] and table.applicability.tolist() == [0.25]
    assert table.au_numbers == (4,) and table.aus is not None and table.aus.tolist() == [[0.75]]
    assert FORMAT_VERSION == 2


def test_a_format_1_file_reads_with_unknown_quality_and_applicability(tmp_path: Path) -> None:
    header = list(REQUIRED_COLUMNS)  # format 1: no quality, quality_reason, applicability
    rows = [["0", "0.0", "1.5", "ok", *["2.0"] * 14], ["1", "0.1", "", "no_face", *[""] * 14]]
    table = FrameTable.read_csv(write_rows(tmp_path / "format1.csv", header, rows))
    assert table.score[0] == 1.5 and np.isnan(table.quality).all() and np.isnan(table.applicability).all()
    assert table.quality_reason.tolist() == ["", ""]
    [first, _] = table.results()
    assert first.status is FrameStatus.OK and np.isnan(first.quality)


def test_a_missing_column_or_a_bad_cell_is_named(tmp_path: Path) -> None:
    header = [c for c in CSV_COLUMNS if c != "score"]
    with pytest.raises(ValueError, match=r"not a painmon per-frame CSV .*missing score"):
        FrameTable.read_csv(write_rows(tmp_path / "no-score.csv", header, []))
    row = ["0", "0.0", "1.0", "sleeping", *[""] * (len(CSV_COLUMNS) - 4)]
    with pytest.raises(ValueError, match="unknown status sleeping"):
        FrameTable.read_csv(write_rows(tmp_path / "status.csv", list(CSV_COLUMNS), [row]))
    row = ["zero", "0.0", "1.0", "ok", *[""] * (len(CSV_COLUMNS) - 4)]
    with pytest.raises(ValueError, match=r"bad-frame.csv is not a valid painmon per-frame CSV"):
        FrameTable.read_csv(write_rows(tmp_path / "bad-frame.csv", list(CSV_COLUMNS), [row]))


def test_an_empty_table_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    FrameTable.from_columns(np.zeros(0), np.zeros(0), np.zeros(0, dtype=str)).write_csv(path)
    back = FrameTable.read_csv(path)
    assert len(back) == 0 and back.box.shape == (0, 4) and back.landmarks.shape == (0, 5, 2)


def test_gap_statuses_of_the_monitor_round_trip(tmp_path: Path) -> None:
    statuses = ["ok", "paused", "camera_lost", "model_error", "low_confidence", "no_face"]
    table = FrameTable.from_columns(np.arange(6.0), [1.0, *[math.nan] * 5], statuses)
    table.write_csv(tmp_path / "session.csv")
    back = FrameTable.read_csv(tmp_path / "session.csv")
    assert back.status.tolist() == statuses
    assert [r.status.label for r in back.results()] == ["face", "privacy pause", "camera lost", "no model",
                                                        "face unclear", "no face"]
