"""The peer face stage of benchmarks/pipeline.py: MediaPipe 0.10.x Face Mesh, and the frames both see.

Face Mesh runs as a bedside tracker would run it: legacy `mediapipe.solutions.face_mesh`, tracking mode
(`static_image_mode=False`: its BlazeFace detector only until the mesh holds the face), one face, without the
iris refinement. Each frame is timed from the BGR frame (the RGB conversion included, as painmon's face stage
converts inside too) to its landmarks, wall clock and process CPU time (all of MediaPipe's threads).

Its 468 points map onto MTCNN's 5 (FIVE_POINTS): each eye centre the mean of the eye's contour
(FACEMESH_RIGHT_EYE, the subject's right eye, is MTCNN's image-left eye), the nose tip 1, the mouth corners 61
(image-left) and 291. `agreement` compares two trackers' 5 points as % of the inter-ocular distance.

painmon's benchmark venv has torch but no MediaPipe, the peer venv (`make bench-peer`) MediaPipe but no torch;
then `python benchmarks/peer.py FRAMES.npy OUT.npz` runs Face Mesh in the peer venv on the frames the
benchmark decoded (saved to a .npy) and resized here the same way (a digest of each sequence proves it).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MULTI_FACE = ROOT / "tests" / "data" / "clips" / "multi_face.jpg"
SIZES = ((320, 180), (640, 360), (1280, 720), (1920, 1080))
"""The resolution sweep: the clip's frames resized (cv2.INTER_LINEAR; INTER_AREA when shrinking)."""
FULL_HD = (1920, 1080)
MULTI_FRAMES = 60
"""Frames of the shifted multi-face sequence."""
NOSE_TIP, MOUTH_CORNERS = 1, (61, 291)
NOSE_ALTERNATIVE = 4
"""Kept beside the 5 points (a 6th) to show how the nose's agreement depends on the chosen mesh point."""
FIELDS = ("name", "wall_ms", "cpu_ms", "points", "digest")
"""What the worker hands back of each FaceRun."""


@dataclass
class FaceRun:
    """One face stage over one sequence: per frame wall and CPU ms and the 5 points (NaN: no face; Face
    Mesh adds NOSE_ALTERNATIVE as a 6th)."""

    name: str
    wall_ms: np.ndarray
    cpu_ms: np.ndarray
    points: np.ndarray
    note: str = ""
    digest: str = ""

    @property
    def fps(self) -> float:
        return 1000 / float(self.wall_ms.mean())

    @property
    def found(self) -> int:
        return int(np.isfinite(self.points[:, 0, 0]).sum())


Step = Callable[[np.ndarray], np.ndarray | None]
"""One face stage on one BGR frame: the (5, 2) points of the face it follows, or None."""


def timed(name: str, frames: Iterable[np.ndarray], step: Step) -> FaceRun:
    """`step` on each frame, timed: wall and process CPU ms per frame."""
    wall, cpu, found = [], [], []
    for frame in frames:
        start, start_cpu = time.perf_counter(), time.process_time()
        found.append(step(frame))
        wall.append(1000 * (time.perf_counter() - start))
        cpu.append(1000 * (time.process_time() - start_cpu))
    shape = next((points.shape for points in found if points is not None), (5, 2))
    points = np.array([np.full(shape, np.nan) if p is None else p for p in found], dtype=np.float64)
    return FaceRun(name, np.array(wall), np.array(cpu), points)


def agreement(reference: np.ndarray, points: np.ndarray) -> tuple[float, np.ndarray, int]:
    """Mean distance of `points` to `reference` (both (n, 5, 2)) as % of the reference's inter-ocular
    distance, over the frames where both have a face: mean of all 5, each point's mean, frames compared.
    Points beyond the 5 (Face Mesh's NOSE_ALTERNATIVE) are compared with the reference's nose."""
    both = np.isfinite(reference[:, 0, 0]) & np.isfinite(points[:, 0, 0])
    if not both.any():
        return float("nan"), np.full(5, np.nan), 0
    ocular = np.linalg.norm(reference[both, 0] - reference[both, 1], axis=1)
    matched = reference[both][:, [*range(5), *[2] * (points.shape[1] - 5)]]
    per_point = 100 * (np.linalg.norm(points[both] - matched, axis=2) / ocular[:, None]).mean(axis=0)
    return float(per_point[:5].mean()), per_point, int(both.sum())


def resized(frames: Iterable[np.ndarray], size: tuple[int, int]) -> list[np.ndarray]:
    """The frames at `size` (width, height)."""
    out = []
    for frame in frames:
        shrink = size[0] < frame.shape[1]
        out.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR))
    return out


def multi_face_sequence(count: int = MULTI_FRAMES) -> list[np.ndarray]:
    """A 1920×1080 scene with five real faces (130–230 px): multi_face.jpg scaled to 1620×1080, centred on a
    grey canvas, moved by a few pixels each frame (±6 px, ±4 px), like a patient breathing."""
    photo = cv2.resize(cv2.imread(str(MULTI_FACE)), (1620, 1080), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((FULL_HD[1], FULL_HD[0], 3), 128, np.uint8)
    canvas[:, 150:1770] = photo
    sequence = []
    for t in range(count):
        shift = np.float32([[1, 0, round(6 * np.sin(t / 5))], [0, 1, round(4 * np.cos(t / 7))]])
        sequence.append(cv2.warpAffine(canvas, shift, FULL_HD, borderValue=(128, 128, 128)))
    return sequence


MULTI = "1080p multi-face"
LABELS = (*(f"{w}×{h}" for w, h in SIZES), MULTI)
"""The sequences every face stage is measured on: the clip at each size of SIZES, and the multi-face scene."""


def sequence(label: str, frames: list[np.ndarray]) -> list[np.ndarray]:
    """The sequence called `label` (one of LABELS) made from the clip's decoded `frames`."""
    if label == MULTI:
        return multi_face_sequence()
    width, height = (int(v) for v in label.split("×"))
    return resized(frames, (width, height))


def digest(frames: list[np.ndarray]) -> str:
    """A short hash of a sequence's pixels."""
    hasher = hashlib.sha1()
    for frame in frames:
        hasher.update(frame.tobytes())
    return hasher.hexdigest()[:12]


def mediapipe_problem() -> str:
    """Why Face Mesh cannot run in this interpreter ("" when it can)."""
    try:
        import mediapipe
    except ImportError as error:
        return f"MediaPipe is not importable ({error})"
    version = getattr(mediapipe, "__version__", "?")
    if not version.startswith("0.10."):
        return f"MediaPipe {version} is not 0.10.x (its legacy solutions ship the Face Mesh model)"
    return ""


def face_mesh(frames: list[np.ndarray], warmup: int) -> dict[str, FaceRun]:
    """Face Mesh (tracking mode) on each of LABELS: warmed up on its first frames, then reset and timed."""
    import mediapipe as mp

    solution = mp.solutions.face_mesh
    eyes = [sorted({i for pair in pairs for i in pair})
            for pairs in (solution.FACEMESH_RIGHT_EYE, solution.FACEMESH_LEFT_EYE)]
    runs = {}
    with solution.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=False) as mesh:

        def step(frame: np.ndarray) -> np.ndarray | None:
            found = mesh.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).multi_face_landmarks
            if not found:
                return None
            marks = np.array([(p.x, p.y) for p in found[0].landmark]) * (frame.shape[1], frame.shape[0])
            return np.stack([marks[eyes[0]].mean(0), marks[eyes[1]].mean(0), marks[NOSE_TIP],
                             *marks[list(MOUTH_CORNERS)], marks[NOSE_ALTERNATIVE]])

        for label in LABELS:
            named = sequence(label, frames)
            timed("warm-up", named[:warmup], step)
            mesh.reset()
            runs[label] = timed(f"MediaPipe {mp.__version__} Face Mesh", named, step)
            runs[label].digest = digest(named)
            mesh.reset()
    return runs


def face_mesh_elsewhere(python: Path, frames: list[np.ndarray], warmup: int) -> dict[str, FaceRun] | str:
    """`face_mesh` in another interpreter (the peer venv) on the same decoded frames; the runs, or why not."""
    with tempfile.TemporaryDirectory() as folder:
        source, out = Path(folder, "frames.npy"), Path(folder, "face_mesh.npz")
        np.save(source, np.stack(frames))
        done = subprocess.run([str(python), __file__, str(source), str(out), "--warmup", str(warmup)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
            return f"Face Mesh in {python} failed: {lines[-1]}"
        with np.load(out) as saved:
            return {label: FaceRun(**{key: _value(saved[f"{label}/{key}"]) for key in FIELDS},
                                   note=f"in {python}") for label in LABELS}


def _value(saved: np.ndarray) -> np.ndarray | str:
    """An array from the worker's .npz as it was: strings come back as 0-d arrays."""
    return str(saved) if saved.dtype.kind == "U" else saved


def main() -> None:
    """Worker: Face Mesh on the sequences made from FRAMES.npy, saved to OUT.npz."""
    import argparse

    parser = argparse.ArgumentParser(description="Face Mesh on the benchmark's frames (peer venv worker)")
    parser.add_argument("frames", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    if problem := mediapipe_problem():
        sys.exit(problem)
    runs = face_mesh(list(np.load(args.frames)), args.warmup)
    np.savez(args.out, **{f"{label}/{key}": getattr(run, key) for label, run in runs.items()
                          for key in FIELDS})


if __name__ == "__main__":
    main()
