"""`painmon analyze` as a user runs it, and the per-frame CSV it writes."""

from __future__ import annotations

import csv
import io
import math
import resource
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from app.cli import main
from engine.applicability import UNKNOWN
from engine.frame_csv import CSV_COLUMNS, ResultCsvWriter
from engine.status import FrameStatus
from engine.types import Face, FrameResult
from tests.helpers import ROOT, painmon_command, run_painmon, save_random_checkpoint, tampered_checkpoint


@pytest.fixture(scope="module")
def random_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_checkpoint(tmp_path_factory.mktemp("model") / "random.safetensors")


@pytest.fixture
def checkpoint(random_model: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The random small-backbone checkpoint, with one ONNX export cache for the whole module."""
    monkeypatch.setenv("PAINMON_CACHE_DIR", str(random_model.parent / "cache"))
    return random_model


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


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
        FrameResult(0, 0.0, FrameStatus.OK, 2.34567, face, quality=0.9876, applicability=0.4321),
        FrameResult(1, 1 / 30, FrameStatus.LOW_CONFIDENCE, math.nan, face),
        FrameResult(2, 2 / 30, FrameStatus.NO_FACE),
        FrameResult(3, 0.1, FrameStatus.LOW_QUALITY, math.nan, face, quality=0.2, quality_reason="too dark"),
    ]
    handle = io.StringIO()
    writer = ResultCsvWriter(handle)
    for result in results:
        writer.write(result)
    rows = list(csv.DictReader(io.StringIO(handle.getvalue())))
    assert tuple(rows[0]) == CSV_COLUMNS and len(CSV_COLUMNS) == 21
    assert rows[0]["score"] == "2.3457" and rows[0]["status"] == "ok"
    assert [rows[0][k] for k in ("x1", "y1", "x2", "y2")] == ["10.0", "20.0", "110.0", "140.0"]
    assert [rows[0][k] for k in ("eye_left_x", "eye_left_y", "mouth_right_y")] == ["50.0", "51.0", "59.0"]
    assert rows[1]["score"] == "" and rows[1]["status"] == "low_confidence" and rows[1]["x1"] == "10.0"
    assert rows[2]["score"] == "" and rows[2]["x1"] == "" and rows[2]["nose_x"] == ""
    assert [r["time_s"] for r in rows] == ["0.0000", "0.0333", "0.0667", "0.1000"]
    assert [(r["quality"], r["quality_reason"], r["applicability"]) for r in rows] == [
        ("0.988", "", "0.432"), ("", "", ""), ("", "", ""), ("0.200", "too dark", "")]


def test_real_clip_gives_one_row_per_frame_and_a_summary(clips_dir: Path, checkpoint: Path, tmp_path: Path):
    out = tmp_path / "results" / "single_face.csv"
    result = run_painmon("analyze", clips_dir / "single_face.mp4", "--model", checkpoint, "--out", out)
    assert result.returncode == 0, result.stderr
    # No warnings and no progress bar when not on a terminal: only one line per backend fallback.
    assert all(line.startswith("backend auto: not ") for line in result.stderr.splitlines())
    assert "on backend onnx, device cpu -- NOT FOR CLINICAL USE" in result.stdout
    assert UNKNOWN in result.stdout  # a model without a description of its training faces
    rows = read_csv(out)
    assert [int(r["frame"]) for r in rows] == list(range(72))
    np.testing.assert_allclose([float(r["time_s"]) for r in rows], np.arange(72) / 30, atol=1e-4)
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) >= 0.95 * 72
    assert all(0 <= float(r["score"]) <= 5 and r["x1"] and r["mouth_right_y"] for r in ok)
    assert all(r["score"] == "" for r in rows if r["status"] != "ok")
    scores = np.array([float(r["score"]) for r in ok])
    assert "72 frames" in result.stdout and f"scored {len(ok)} " in result.stdout
    assert f"mean {scores.mean():.2f}, peak {scores.max():.2f}" in result.stdout
    assert str(out) in result.stdout


def test_truncated_clip_reports_the_frames_before_the_damage(clips_dir: Path, checkpoint: Path,
                                                             tmp_path: Path):
    data = (clips_dir / "WolfgangLanger_Pexels.mp4").read_bytes()
    video = tmp_path / "cut.mp4"
    video.write_bytes(data[: len(data) // 5])  # index first, so the frames before the cut decode
    out = tmp_path / "cut.csv"
    result = run_painmon("analyze", video, "--model", checkpoint, "--out", out, "--backend", "onnx")
    assert_one_line_error(result, "truncated")
    rows = read_csv(out)
    assert 40 < len(rows) < 472
    assert f"only {len(rows)} of 472 frames could be read" in result.stderr
    assert f"the {len(rows)} frames before the damage were analysed and written to {out}" in result.stderr
    assert f"{len(rows)} frames in" in result.stdout


def test_a_full_disk_is_a_bad_input_error_and_keeps_the_previous_csv(clips_dir: Path, checkpoint: Path,
                                                                    tmp_path: Path):
    out = tmp_path / "scores.csv"
    out.write_text("the previous run's rows\n")

    def small_files() -> None:  # the kernel refuses to grow any file past 4 KiB, as a full disk would
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    result = run_painmon("analyze", clips_dir / "single_face.mp4", "--model", checkpoint, "--out", out,
                         "--backend", "torch", "--quiet", preexec_fn=small_files)
    assert_one_line_error(result, f"cannot write {out}: File too large")
    assert out.read_text() == "the previous run's rows\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]  # no scratch file left behind


def interruptible() -> None:
    """In the child: Ctrl-C as in a terminal's foreground. A test suite started in the background of a
    non-interactive shell (`make test &`) ignores SIGINT, and its children would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_keeps_the_complete_rows_analysed_so_far(clips_dir: Path, checkpoint: Path, tmp_path: Path):
    out = tmp_path / "scores.csv"
    out.write_text("the previous run's rows\n")
    command = painmon_command("analyze", clips_dir / "WolfgangLanger_Pexels.mp4", "--model", checkpoint,
                              "--out", out, "--backend", "onnx")
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=interruptible)  # noqa: PLW1509 (it only resets a signal)
    deadline = time.monotonic() + 300
    while not any(p.stat().st_size for p in tmp_path.glob(".scores.csv.*.partial")):  # rows reach the disk
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and stderr.endswith("painmon: interrupted\n"), stderr
    assert f"interrupted: the frames analysed so far were written to {out}" in stdout
    rows = read_csv(out)
    assert 0 < len(rows) < 472
    assert [int(r["frame"]) for r in rows] == list(range(len(rows)))
    assert all(None not in row and None not in row.values() for row in rows)  # complete rows only
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


def test_a_still_image_is_analysed_as_one_frame_whatever_its_name(painmon_here, clips_dir: Path,
                                                                  checkpoint: Path, tmp_path: Path):
    photo = clips_dir / "single_face.jpg"
    images = [photo, tmp_path / "face.png", tmp_path / "face.mp4"]
    cv2.imwrite(str(images[1]), cv2.imread(str(photo)))  # lossless: the same pixels
    shutil.copyfile(photo, images[2])  # a photo under a video's name
    rows = []
    for image in images:
        code, out, err = painmon_here("analyze", image, "--model", checkpoint, "--out", tmp_path / "x.csv")
        assert code == 0, err
        assert f"{image}: 1 frames in" in out and "scored 1 (100%)" in out
        rows += read_csv(tmp_path / "x.csv")
    assert len(rows) == 3 and rows[0] == rows[1] == rows[2]
    assert (rows[0]["frame"], rows[0]["time_s"], rows[0]["status"]) == ("0", "0.0000", "ok")


@pytest.fixture
def painmon_here(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[..., tuple[int, str, str]]]:
    """Run `painmon ARGS` in this process (faster than a subprocess): exit code, stdout, stderr."""
    threads = torch.get_num_threads()

    def run(*args: str | Path) -> tuple[int, str, str]:
        code = main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    yield run
    torch.set_num_threads(threads)  # analyze sets one thread for the process


def test_smoothing_option_smooths_scores_but_keeps_gaps(painmon_here, clips_dir: Path, checkpoint: Path,
                                                        tmp_path: Path):
    video = clips_dir / "single_face.mp4"
    assert painmon_here("analyze", video, "--model", checkpoint, "--out", tmp_path / "raw.csv")[0] == 0
    code, _, err = painmon_here("analyze", video, "--model", checkpoint, "--out", tmp_path / "smooth.csv",
                                "--smooth", "0.5", "--quiet")
    assert code == 0, err
    raw, smooth = read_csv(tmp_path / "raw.csv"), read_csv(tmp_path / "smooth.csv")
    assert len(smooth) == 72
    assert [r["score"] == "" for r in smooth] == [r["score"] == "" for r in raw]
    assert [r["x1"] for r in smooth] == [r["x1"] for r in raw]
    assert smooth[0]["score"] == raw[0]["score"]
    assert [r["score"] for r in smooth] != [r["score"] for r in raw]


def test_bad_model_file_is_a_bad_input_error(painmon_here, clips_dir: Path, tmp_path: Path):
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"not a checkpoint")
    code, _, err = painmon_here("analyze", clips_dir / "single_face.mp4", "--model", model,
                                "--out", tmp_path / "x.csv")
    assert code == 2 and err.startswith("painmon: error: ") and "model.safetensors" in err
    assert err.count("\n") == 1


BAD_MODELS = {  # the model file's card fields or weights → the refusal
    "an empty input size": ({"input_size": [0, 0]}, None, "input_size [0, 0] is not a size"),
    "AUs on a plain regressor": ({"aus": [4, 6]}, None, "aus and members go together"),
    "members as text": ({"aus": [4], "members": ["face_cnn_small"]}, None, "members[0] must be an object"),
    "clinical use as text": ({"clinical_use": "no"}, None, "clinical_use must be true or false"),
    "NaN weights": (None, lambda t: t["embed.1.weight"].fill_(math.nan), "holds NaN or infinite values"),
}


MODEL_CASES = [(case, backend) for case in BAD_MODELS for backend in ("onnx", "torch")]


@pytest.mark.parametrize("case", MODEL_CASES, ids=[f"{case} on {backend}" for case, backend in MODEL_CASES])
def test_a_bad_model_is_refused_in_one_line_naming_why(painmon_here, random_model: Path, clips_dir: Path,
                                                       tmp_path: Path, case: tuple[str, str]):
    card, tensors, message = BAD_MODELS[case[0]]
    model = tampered_checkpoint(random_model, tmp_path / "bad.safetensors", card=card, tensors=tensors)
    code, _, err = painmon_here("analyze", clips_dir / "single_face.mp4", "--model", model, "--out",
                                tmp_path / "x.csv", "--backend", case[1])
    assert code == 2 and err.startswith(f"painmon: error: {model} ") and err.count("\n") == 1, err
    assert message in err
    assert not (tmp_path / "x.csv").exists()


def test_unwritable_output_is_a_bad_input_error(painmon_here, clips_dir: Path, checkpoint: Path,
                                                tmp_path: Path):
    code, _, err = painmon_here("analyze", clips_dir / "single_face.mp4", "--model", checkpoint,
                                "--out", tmp_path)
    assert code == 2 and err == f"painmon: error: cannot write {tmp_path}: Is a directory\n"


@pytest.mark.parametrize("through_link", [False, True], ids=["same path", "symbolic link"])
def test_an_output_that_is_the_video_is_refused_and_the_video_kept(painmon_here, clips_dir: Path,
                                                                  checkpoint: Path, tmp_path: Path,
                                                                  through_link: bool):
    video = tmp_path / "clip.mp4"
    shutil.copyfile(clips_dir / "single_face.mp4", video)
    out = video
    if through_link:
        out = tmp_path / "scores.csv"
        out.symlink_to(video)
    code, _, err = painmon_here("analyze", video, "--model", checkpoint, "--out", out)
    assert (code, err) == (2, f"painmon: error: --out {out} is the video being analysed; choose another "
                              "file for the CSV\n")
    assert video.read_bytes() == (clips_dir / "single_face.mp4").read_bytes()


def test_an_output_that_is_the_model_is_refused_and_the_model_kept(painmon_here, clips_dir: Path,
                                                                  checkpoint: Path, tmp_path: Path):
    model = shutil.copyfile(checkpoint, tmp_path / "model.safetensors")
    code, _, err = painmon_here("analyze", clips_dir / "single_face.mp4", "--model", model, "--out", model)
    assert (code, err) == (2, f"painmon: error: --out {model} is the model; choose another file for the "
                              "CSV\n")
    assert model.read_bytes() == checkpoint.read_bytes()


def test_random_bytes_file_is_refused_in_one_line(tmp_path: Path):
    video = tmp_path / "noise.mp4"
    video.write_bytes(np.random.default_rng(1).bytes(300_000))
    result = run_painmon("analyze", video, "--out", tmp_path / "scores.csv")
    assert_one_line_error(result, "not a video file")
    assert not (tmp_path / "scores.csv").exists()


def test_mp4_truncated_before_its_index_is_refused_in_one_line(clips_dir: Path, tmp_path: Path):
    data = (clips_dir / "single_face.mp4").read_bytes()
    video = tmp_path / "half.mp4"
    video.write_bytes(data[: len(data) // 2])
    result = run_painmon("analyze", video, "--out", tmp_path / "scores.csv")
    assert_one_line_error(result, "truncated")


@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_smoothing_that_is_not_a_time_constant_is_refused_in_one_line(painmon_here, clips_dir: Path,
                                                                       tmp_path: Path, value: str):
    code, _, err = painmon_here("analyze", clips_dir / "single_face.mp4", "--smooth", value,
                                "--out", tmp_path / "x.csv")
    assert (code, err) == (2, "painmon: error: --smooth must be 0 (off) or a time constant in seconds, "
                              f"got {float(value)}\n")
    assert not (tmp_path / "x.csv").exists()


def test_missing_video_is_refused_in_one_line(tmp_path: Path):
    result = run_painmon("analyze", tmp_path / "absent.mp4", "--out", tmp_path / "scores.csv")
    assert_one_line_error(result, "no such file")


def test_missing_default_model_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from engine import analyze, paths
    from engine.errors import ModelFileError

    monkeypatch.setattr(paths, "DEMO_MODEL", tmp_path / "assets" / "demo_model.safetensors")
    with pytest.raises(ModelFileError, match="no --model given"):
        analyze.resolve_model(None)
    assert analyze.resolve_model("mine.safetensors") == Path("mine.safetensors")
