"""`painmon --self-test`, run as a user (or the PyInstaller bundle) runs it."""

import re

from tests.helpers import run_painmon


def test_self_test_scores_the_simulated_patient_and_exits_zero():
    result = run_painmon("--self-test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-test passed" in result.stdout
    assert re.search(r"backend: (onnx|torch|tensorrt) on \S+", result.stdout)
    faces, frames = map(int, re.search(r"faces:\s+(\d+)/(\d+)", result.stdout).groups())
    assert frames == 60 and faces >= 48
    low, high = map(float, re.search(r"scores:\s+\d+, ([\d.]+) to ([\d.]+)", result.stdout).groups())
    assert 0.0 <= low <= high <= 5.0
