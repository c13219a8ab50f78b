"""Start-up: time to the first result and peak memory of `painmon analyze` and `painmon --self-test`.

    python benchmarks/startup.py [--repeats 3]

Each command runs as a user runs it, in a fresh process, `--repeats` times, the two paths interleaved:
- before: the torch path (`--backend torch`: PyTorch regressor, facenet-pytorch's MTCNN in torch), which
  imports torch, torchvision and facenet-pytorch;
- after: the lean runtime (`--backend onnx`: ONNX Runtime for the regressor and MTCNN, numpy and OpenCV
  around them), which imports none of them.
`analyze` scores a 1-frame clip (the first frame of single_face.mp4) into a CSV: its wall time is the time
to the first result. Peak RSS is the child's own maximum resident set (`os.wait4`). Prints medians, the
ratio after / before, and whether the goal (≤ 2 s, ≤ 300 MB) is met.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "tests" / "data" / "clips" / "single_face.mp4"
PAINMON = [sys.executable, "-m", "app.cli"]
GOAL_S, GOAL_MB = 2.0, 300.0


def one_frame_clip(folder: Path) -> Path:
    """An MP4 holding the first frame of the real clip."""
    capture = cv2.VideoCapture(str(CLIP))
    ok, frame = capture.read()
    capture.release()
    if not ok:
        raise SystemExit(f"cannot read {CLIP} (make clips)")
    path = folder / "one_frame.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, frame.shape[1::-1])
    writer.write(frame)
    writer.release()
    return path


def measure(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one painmon run; exits on a failed run."""
    start = time.perf_counter()
    child = subprocess.Popen([*PAINMON, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    out, err = (stream.read().decode() for stream in (child.stdout, child.stderr))  # type: ignore[union-attr]
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"painmon {' '.join(args)} failed:\n{out}{err}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        clip = one_frame_clip(Path(scratch))
        out = Path(scratch) / "scores.csv"
        commands = {
            "analyze (1-frame clip)": lambda backend: ["analyze", str(clip), "--out", str(out), "--quiet",
                                                       "--backend", backend],
            "--self-test (60 frames)": lambda backend: ["--self-test", "--backend", backend],
        }
        paths = {"before (torch)": "torch", "after (ONNX Runtime)": "onnx"}
        for build in commands.values():  # warm the file cache: a first run reads every library from disk
            for backend in paths.values():
                measure(build(backend))
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(options.repeats):
            for name, build in commands.items():
                for path, backend in paths.items():
                    results.setdefault((name, path), []).append(measure(build(backend)))
    print(f"{'command':<26}{'path':<22}{'wall s':>8}{'peak MB':>9}   (median of {options.repeats}; "
          f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    for name in commands:
        medians = {}
        for path in paths:
            runs = results[name, path]
            medians[path] = (statistics.median(w for w, _ in runs), statistics.median(m for _, m in runs))
            print(f"{name:<26}{path:<22}{medians[path][0]:8.2f}{medians[path][1]:9.0f}")
        (wall_b, mem_b), (wall_a, mem_a) = medians.values()
        goal = "met" if wall_a <= GOAL_S and mem_a <= GOAL_MB else "NOT met"
        print(f"{'':<26}{'after / before':<22}{wall_a / wall_b:8.2f}{mem_a / mem_b:9.2f}   "
              f"goal ≤ {GOAL_S:g} s and ≤ {GOAL_MB:g} MB: {goal}")


if __name__ == "__main__":
    main()
