"""Predictions CSV files and `painmon train evaluate` as a user runs it."""

import csv
import fcntl
import json
import math
import os
import struct
import subprocess
import termios
from pathlib import Path

import cv2
import hypothesis
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import ROOT, examples, mostly, painmon_command, run_painmon
from train.evaluate import COLUMNS, Predictions, PredictionsFileError, read_predictions, write_predictions
from train.report import OVERVIEW_SUBJECTS, subject_png_name

# Three subjects as in test_metrics.py, written the way any tool might: extra column, rows out of order,
# frame numbers with leading zeros and beyond 9, labels written as floats.
CSV = """subject,sequence,frame,label,prediction,model
A,s2,010,3,2.0,x
A,s1,1,0,0.5,x
A,s1,2,0.0,0,x
A,s2,9,1,2,x
B,b,1,0,0,x
B,b,2,0,0.3,x
B,b,3,0,0.6,x
C,c,1,2,2,x
C,c,2,2.000,2,x
"""
A_PCC = 3.5 / math.sqrt(6 * 3.1875)  # derived in test_metrics.py
A_ICC = 2 * 3.5 / (6 + 3.1875)
METRICS = {"mae", "mse", "pcc", "icc", "wmae", "wmse"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "predictions.csv"
    path.write_text(text)
    return path


def test_reads_rows_in_file_order_ignoring_extra_columns(tmp_path):
    table = read_predictions(write(tmp_path, CSV))
    assert len(table) == 9
    assert list(table.subject[:2]) == ["A", "A"]
    assert list(table.sequence[:2]) == ["s2", "s1"]
    assert list(table.frame[:4]) == [10, 1, 2, 9]
    assert list(table.label) == [3, 0, 0, 1, 0, 0, 0, 2, 2]
    assert list(table.prediction[:3]) == [2.0, 0.5, 0.0]


def test_subject_rows_order_by_sequence_then_numeric_frame(tmp_path):
    table = read_predictions(write(tmp_path, CSV))
    rows = table.subject_rows("A")
    ordered = [(table.sequence[i], int(table.frame[i])) for i in rows]
    assert ordered == [("s1", 1), ("s1", 2), ("s2", 9), ("s2", 10)]


def test_write_then_read_round_trips_exactly(tmp_path):
    rng = np.random.default_rng(1)
    original = Predictions(
        subject=np.array(["042-ll042"] * 3 + ["043-jh043"] * 2),
        sequence=np.array(["ll042t1aaaff"] * 3 + ["jh043t2aeaff"] * 2),
        frame=np.array([1, 2, 3, 1, 2]),
        label=np.array([0, 5, 4, 1, 2], dtype=float),
        prediction=rng.uniform(0, 5, 5).astype(np.float32).astype(float),
    )
    path = tmp_path / "out.csv"
    write_predictions(path, original)
    again = read_predictions(path)
    for name in ("subject", "sequence", "frame", "label", "prediction"):
        assert np.array_equal(getattr(again, name), getattr(original, name)), name
    assert again.evaluate() == original.evaluate()
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


HEADER = "subject,sequence,frame,label,prediction\n"


@pytest.mark.parametrize(("text", "message"), [
    (HEADER + "A,s,1,0,0\nA,s,2,1,1\nA,s,3,6,1\n", ":4: label '6' is not one of the pain levels"),
    (HEADER + "A,s,1,2.5,0\n", ":2: label '2.5' is not one of the pain levels"),
    (HEADER + "A,s,1,-1,0\n", ":2: label '-1' is not one of the pain levels"),
    (HEADER + "A,s,1,0,0\nA,s,2,high,0\n", ":3: label 'high' is not a number"),
    (HEADER + "A,s,1,0,0\nA,s,2,0,nan\n", ":3: prediction is 'nan'"),
    (HEADER + "A,s,1,0,\n", ":2: prediction is empty"),
    (HEADER + "A,s,1,0,0.3x\n", ":2: prediction '0.3x' is not a number"),
    (HEADER + "A,s,one,0,0\n", ":2: frame 'one' is not a number"),
    (HEADER + "A,s,1.5,0,0\n", ":2: frame '1.5' is not a whole number"),
    (HEADER + "A,s,1e308,0,0\n", ":2: frame '1e308' is not a whole number from 0 to 1000000000"),
    (HEADER + "A,s,-1,0,0\n", ":2: frame '-1' is not a whole number from 0 to 1000000000"),
    (HEADER + "A,s,1,0,1e308\n", ":2: prediction '1e308' is not a pain level (0–5); predictions beyond ±"),
    (HEADER + "A,s,1,0,-1e200\n", ":2: prediction '-1e200' is not a pain level"),
    (HEADER + "A,s,1,0,inf\n", ":2: prediction is 'inf'; every frame needs a finite value"),
    (HEADER + "A,s,1,1e308,0\n", ":2: label '1e308' is not one of the pain levels"),
    (HEADER + "A,s,1,0\n", ":2: prediction is empty"),
    (HEADER + ",s,1,0,0\n", ":2: subject is empty"),
    (HEADER + "A,s,1,0,0\nA,s,1,0,0.5\n", ":3: frame 1 of A/s already appeared on line 2"),
    ("subject,sequence,frame,label\nA,s,1,0\n", "missing column(s) prediction"),
    ("A,s,1,0,0\n", "missing column(s) subject, sequence, frame, label, prediction"),
    (HEADER, "no frames after the header"),
    ("", "missing column(s)"),
])
def test_bad_input_is_rejected_with_its_line(tmp_path, text, message):
    with pytest.raises(PredictionsFileError) as error:
        read_predictions(write(tmp_path, text))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_and_binary_files_are_rejected(tmp_path):
    with pytest.raises(PredictionsFileError, match="no such file"):
        read_predictions(tmp_path / "absent.csv")
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(PredictionsFileError, match="not a UTF-8 text file"):
        read_predictions(binary)


def test_cli_writes_json_report_and_plots(tmp_path):
    csv_path = write(tmp_path, CSV)
    result = run_painmon("train", "evaluate", str(csv_path), "--json", str(tmp_path / "m.json"),
                         "--report", str(tmp_path / "report"))
    assert (result.returncode, result.stderr) == (0, "")  # no progress bar when not on a terminal
    assert "| method | MAE | MSE | PCC | ICC | wMAE | wMSE |" in result.stdout
    assert "| ours (per-subject mean) | 0.308 |" in result.stdout

    numbers = json.loads((tmp_path / "m.json").read_text())
    assert set(numbers) == {"per_subject_mean", "pooled", "per_subject", "frames"}
    assert set(numbers["per_subject_mean"]) == set(numbers["pooled"]) == METRICS
    assert set(numbers["per_subject"]) == {"A", "B", "C"}
    assert numbers["frames"] == 9
    mean = numbers["per_subject_mean"]
    assert mean["mae"] == pytest.approx((0.625 + 0.3 + 0) / 3)
    assert mean["pcc"] == pytest.approx(A_PCC)  # B and C have constant labels: skipped
    assert mean["icc"] == pytest.approx(A_ICC / 3)  # B's ICC is 0, C's undefined counts as 0
    assert numbers["pooled"]["mae"] == pytest.approx(3.4 / 9)
    assert numbers["per_subject"]["C"]["pcc"] is None
    assert numbers["per_subject"]["C"]["icc"] is None

    report = tmp_path / "report"
    assert sorted(p.name for p in report.iterdir()) == [
        "overview.png", "report.md", "subject_A.png", "subject_B.png", "subject_C.png"]
    for png in report.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = cv2.imread(str(png))
        assert image is not None and image.shape[0] > 100 and image.shape[1] > 200, png.name
        assert image.std() > 10, f"{png.name} is blank"
    markdown = (report / "report.md").read_text()
    assert "| ours (pooled) | 0.378 | 0.300 |" in markdown
    assert "| A | 4 | 0 1 3 | 0.625 |" in markdown
    assert "![C](subject_C.png)" in markdown


def run_on_a_terminal(*args: object) -> tuple[int, str]:
    """Run `painmon ARGS` with its stderr on a pseudo-terminal, as in a user's shell: the exit code and what
    it showed there."""
    terminal, its_side = os.openpty()
    fcntl.ioctl(its_side, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 24 lines of 100
    process = subprocess.Popen(painmon_command(*args), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=its_side)
    os.close(its_side)
    shown = bytearray()
    try:
        while chunk := os.read(terminal, 4096):
            shown += chunk
    except OSError:  # EIO: the process closed its side
        pass
    os.close(terminal)
    return process.wait(timeout=60), shown.decode(errors="replace")


def test_a_report_of_many_subjects_shows_progress_on_a_terminal_and_a_bounded_overview(tmp_path):
    subjects = OVERVIEW_SUBJECTS + 5
    csv_path = write(tmp_path, HEADER + "".join(f"S{i},s,{f},{f},{f / 2}\n" for i in range(subjects)
                                                for f in (1, 2)))
    code, shown = run_on_a_terminal("train", "evaluate", csv_path, "--report", tmp_path / "report")
    assert code == 0, shown
    assert "plots: 100%" in shown and f"{subjects}/{subjects}" in shown
    report = tmp_path / "report"
    assert len(list(report.glob("subject_*.png"))) == subjects
    assert cv2.imread(str(report / "overview.png")).shape[0] == 1.9 * 80 * OVERVIEW_SUBJECTS / 5
    assert f"the first {OVERVIEW_SUBJECTS} of {subjects} subjects" in (report / "report.md").read_text()


def test_subjects_whose_names_differ_only_in_unsafe_characters_keep_their_own_plots(tmp_path):
    csv_path = write(tmp_path, HEADER + "a/b,s,1,0,0\na/b,s,2,1,1\na_b,s,1,2,2\na_b,s,2,3,3\n")
    result = run_painmon("train", "evaluate", csv_path, "--report", tmp_path / "report")
    assert result.returncode == 0, result.stderr
    names = {subject_png_name("a/b"), subject_png_name("a_b")}
    assert len(names) == 2 and names < {p.name for p in (tmp_path / "report").iterdir()}
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert all(f"]({name})" in markdown for name in names)


def test_cli_rejects_a_bad_label_with_its_line_number(tmp_path):
    csv_path = write(tmp_path, HEADER + "A,s,1,0,0\nA,s,2,1,1.2\nA,s,3,7,1\n")
    result = run_painmon("train", "evaluate", str(csv_path), "--json", str(tmp_path / "m.json"))
    assert result.returncode == 2
    message = f"{csv_path}:4: label '7' is not one of the pain levels 0, 1, 2, 3, 4, 5"
    assert result.stderr.strip() == f"painmon: error: {message}"
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize("value", ["1e308", "inf", "-1e300"])
def test_cli_refuses_a_prediction_too_large_to_evaluate(tmp_path, value):
    csv_path = write(tmp_path, HEADER + f"A,s,1,0,{value}\nA,s,2,1,1\nB,s,1,0,0\nB,s,2,2,1\n")
    result = run_painmon("train", "evaluate", str(csv_path), "--json", str(tmp_path / "m.json"))
    assert result.returncode == 2 and result.stderr.startswith(f"painmon: error: {csv_path}:2: prediction ")
    assert result.stderr.count("\n") == 1 and not (tmp_path / "m.json").exists()


def test_cli_reports_unwritable_output_as_bad_input(tmp_path):
    csv_path = write(tmp_path, CSV)
    result = run_painmon("train", "evaluate", str(csv_path), "--json", str(tmp_path / "absent" / "m.json"))
    assert result.returncode == 2
    assert result.stderr.startswith("painmon: error: cannot write output")
    assert "Traceback" not in result.stderr


# -- properties: whatever a predictions CSV holds, it is read as valid predictions or refused in one line --
CELLS = st.one_of(st.text(max_size=8), st.integers().map(str), st.floats().map(repr),
                  st.sampled_from(["0", "1", "5", "6", "2.0", "-1", "1e308", "-1e308", "1000", "1001", "nan",
                                   "inf", "", " 3 ", "0x10", "1_000", "١", "A", "s"]))
"""What a CSV cell may hold: numbers good and bad, text, nothing."""


ROWS = mostly(st.tuples(mostly(st.sampled_from(["A", "B", "a/b", "a_b"]), CELLS),
                        mostly(st.sampled_from(["s1", "s2"]), CELLS),
                        mostly(st.integers(0, 99).map(str), CELLS),
                        mostly(st.integers(0, 5).map(str), CELLS),
                        mostly(st.floats(-10, 10).map(repr), CELLS)).map(list),
              st.lists(CELLS, max_size=7))
"""Rows: mostly well-formed ones with a bad cell now and then, else anything."""
TABLES = st.tuples(st.one_of(st.just(list(COLUMNS)), st.permutations([*COLUMNS, "model"]), st.lists(CELLS)),
                   st.lists(ROWS, max_size=10))
"""A header (the columns, in any order, or anything) and rows (mostly well-formed, or anything)."""


def read_or_refused(path: Path) -> None:
    """Read a predictions CSV: refused in one line naming the file, or predictions the metrics take."""
    try:
        predictions = read_predictions(path)
    except PredictionsFileError as error:
        assert str(error).startswith(str(path)) and "\n" not in str(error)
        return
    hypothesis.event("read")
    assert len(predictions) > 0 and set(predictions.label) <= set(map(float, range(6)))
    assert np.all(np.abs(predictions.prediction) <= 1000) and np.all(predictions.frame >= 0)
    metrics = predictions.evaluate().per_subject_mean.as_dict()
    assert not any(math.isinf(value) for value in metrics.values())


@examples(500)
@given(TABLES)
def test_any_table_is_read_as_predictions_or_refused(tmp_path: Path, table: tuple) -> None:
    header, rows = table
    path = tmp_path / "any.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    read_or_refused(path)


@examples(300)
@given(st.binary(max_size=300))
def test_any_bytes_are_read_as_predictions_or_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "any.csv"
    path.write_bytes(content)
    read_or_refused(path)
