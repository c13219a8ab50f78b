"""`painmon analyze` as a user runs it, and the per-frame CSV it writes."""

from __future__ import annotations

import csv
import io
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.analyze import CSV_COLUMNS, ResultCsvWriter
from engine.types import Face, FaceStatus, FrameResult

ROOT = Path(__file__).resolve().parent.parent


def painmon(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run `painmon ARGS` in a subprocess from the repository root, as a user's shell would."""
    return subprocess.run([sys.executable, "-m", "app", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess[str], reason: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("painmon: error: ") and reason in lines[0], lines[0]


def test_csv_rows_carry_geometry_and_leave_gaps_empty():
    face = Face(np.array([10, 20, 110, 140], np.float32), np.arange(10, dtype=np.float32).reshape(5, 2) + 50,
                0.99)
    results = [
        FrameResult(0, 0.0, FaceStatus.OK, 2.34567, face),
        FrameResult(1, 1 / 30, FaceStatus.LOW_CONFIDENCE, math.nan, face),
        FrameResult(2, 2 / 30, FaceStatus.NO_FACE),
    ]
    handle = io.StringIO()
    writer = ResultCsvWriter(handle)
    for result in results:
        writer.write(result)
    rows = list(csv.DictReader(io.StringIO(handle.getvalue())))
    assert tuple(rows[0]) == CSV_COLUMNS and len(CSV_COLUMNS) == 18
    assert rows[0]["score"] == "2.3457" and rows[0]["status"] == "ok"
    assert [rows[0][k] for k in ("x1", "y1", "x2", "y2")] == ["10.0", "20.0", "110.0", "140.0"]
    assert [rows[0][k] for k in ("eye_left_x", "eye_left_y", "mouth_right_y")] == ["50.0", "51.0", "59.0"]
    assert rows[1]["score"] == "" and rows[1]["status"] == "low_confidence" and rows[1]["x1"] == "10.0"
    assert rows[2]["score"] == "" and rows[2]["x1"] == "" and rows[2]["nose_x"] == ""
    assert [r["time_s"] for r in rows] == ["0.0000", "0.0333", "0.0667"]


def test_random_bytes_file_is_refused_in_one_line(tmp_path: Path):
    video = tmp_path / "noise.mp4"
    video.write_bytes(np.random.default_rng(1).bytes(300_000))
    result = painmon("analyze", video, "--out", tmp_path / "scores.csv")
    assert_one_line_error(result, "not a video file")
    assert not (tmp_path / "scores.csv").exists()


def test_mp4_truncated_before_its_index_is_refused_in_one_line(clips_dir: Path, tmp_path: Path):
    data = (clips_dir / "single_face.mp4").read_bytes()
    video = tmp_path / "half.mp4"
    video.write_bytes(data[: len(data) // 2])
    result = painmon("analyze", video, "--out", tmp_path / "scores.csv")
    assert_one_line_error(result, "truncated")


def test_missing_video_is_refused_in_one_line(tmp_path: Path):
    result = painmon("analyze", tmp_path / "absent.mp4", "--out", tmp_path / "scores.csv")
    assert_one_line_error(result, "no such file")


def test_missing_default_model_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from engine import analyze
    from engine.errors import ModelFileError

    monkeypatch.setattr(analyze, "DEMO_MODEL", tmp_path / "assets" / "demo_model.safetensors")
    with pytest.raises(ModelFileError, match="no --model given"):
        analyze.resolve_model(None)
    assert analyze.resolve_model("mine.safetensors") == Path("mine.safetensors")
