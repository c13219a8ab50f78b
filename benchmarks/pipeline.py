"""Pipeline speed on real frames: painmon's face stage against its torch predecessor and MediaPipe Face Mesh,
and painmon end to end against the naive pipeline, at 320×180 … 1920×1080 and on a 1080p multi-face scene.

Frames: the first --frames of WolfgangLanger_Pexels.mp4 (640×360), decoded once and resized with cv2.resize
to each size of the sweep before any timing (decode and resize are reported apart, never in the tables);
the multi-face scene is multi_face.jpg (five people) on a 1920×1080 canvas, shifted a few pixels per frame
(benchmarks/peer.py). Every row of a size sees the same frames.

1. Face stage per frame, as the pipeline runs it (engine.tracker.FaceTracker: full pyramid on acquisition,
   a window search every 30 frames, RNet + ONet refinement otherwise), warmed up, then from the first frame:
   painmon's MTCNN on ONNX Runtime (engine.mtcnn, what `backend="onnx"` runs), the torch MTCNN before it
   (engine.detector, `backend="torch"`), and MediaPipe 0.10.x Face Mesh in tracking mode as the peer
   (benchmarks/peer.py). Landmark agreement: mean distance between two stages' 5 points, % of the
   inter-ocular distance. Wall and CPU (process) ms per frame; ONNX Runtime's MTCNN and torch use 1 thread,
   MediaPipe as many as it takes.
2. End to end (face + align + model; frames in memory): (a) naive: facenet-pytorch MTCNN defaults on every
   frame (full pyramid, min face 20 px, 160×160 crop) + InceptionResnetV1 in torch eager; (b) painmon on
   ONNX Runtime with the small CPU model painmon ships (face_cnn_small 112×96) and (b') with InceptionResnetV1
   160×160, like with like. The naive pipeline times fewer frames above 640×360 (same pixels per run).
3. 1080p multi-face: full-frame detection (the acquisition case) by both MTCNNs, faces found, and the trackers
   per frame on the shifted scene.

Models carry random weights (speed does not depend on them). Run: `.venv/bin/python benchmarks/pipeline.py`
(the venv has torch but no MediaPipe: Face Mesh rows say so). With the peer: `make bench-peer` builds a second
venv (.cache/peer-venv: painmon's torch-free runtime + mediapipe 0.10.21 without its numpy<2 pin) and runs
`.venv/bin/python benchmarks/pipeline.py --peer-python .cache/peer-venv/bin/python`; Face Mesh then runs in
that interpreter on the frames decoded here (saved to a .npy), timed per frame inside that process.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.peer import (  # noqa: E402
    LABELS,
    MULTI,
    NOSE_ALTERNATIVE,
    NOSE_TIP,
    FaceRun,
    agreement,
    face_mesh,
    face_mesh_elsewhere,
    mediapipe_problem,
    sequence,
    timed,
)
from engine.checkpoint import card_for, save_checkpoint  # noqa: E402
from engine.detector import FaceDetector  # noqa: E402
from engine.model import PainRegressor  # noqa: E402
from engine.mtcnn import OrtFaceDetector  # noqa: E402
from engine.pipeline import Pipeline  # noqa: E402
from engine.sources import Frame, open_source  # noqa: E402
from engine.status import FrameStatus  # noqa: E402
from engine.tracker import FaceTracker  # noqa: E402
from engine.types import Detector  # noqa: E402

CLIP = ROOT / "tests" / "data" / "clips" / "WolfgangLanger_Pexels.mp4"
STAGES = ("face", "align", "predict")
NATIVE_PIXELS = 640 * 360
MIN_NAIVE_FRAMES = 24
ORT, TORCH = "painmon MTCNN, ONNX Runtime", "painmon MTCNN, torch (before)"


@dataclass
class Run:
    """Seconds per stage, wall clock and counts of one pipeline over frames in memory."""

    name: str
    frames: int = 0
    faces: int = 0
    wall: float = 0.0
    stages: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    note: str = ""

    @property
    def fps(self) -> float:
        return self.frames / self.wall

    @property
    def fps_all_scored(self) -> float:
        """fps had the model run on every frame, at its measured time per scored face (painmon scores only
        usable faces: on this clip a third of the frames are a turned or covered face)."""
        unscored = self.frames - self.faces
        return self.frames / (self.wall + self.stages["predict"] / max(self.faces, 1) * unscored)

    def row(self, label: str, baseline: Run) -> str:
        """Table line: ms per frame of each stage and in total, fps, faces found, speed-up over baseline."""
        stages = "".join(f"{1000 * self.stages[s] / self.frames:9.1f}" for s in STAGES)
        return (f"{label:<11}{self.name:<44}{stages}{1000 * self.wall / self.frames:9.1f}{self.fps:8.1f}"
                f"{self.faces:>8}/{self.frames:<4}{self.fps / baseline.fps:7.1f}×")


def measure(run: Run, frames: list[Frame], warmup: int, *, analyse: Callable[[Frame, Run], None],
            restart: Callable[[], None]) -> Run:
    """Warm up on the first frames, restart, then time `analyse` over all `frames`."""
    for frame in frames[:warmup]:
        analyse(frame, Run("warm-up"))
    restart()
    begin = time.perf_counter()
    for frame in frames:
        analyse(frame, run)
        run.frames += 1
    run.wall = time.perf_counter() - begin
    return run


def naive(frames: list[Frame], warmup: int) -> Run:
    """facenet-pytorch MTCNN defaults on every frame + torch eager InceptionResnetV1 regressor."""
    import cv2
    from facenet_pytorch import MTCNN

    mtcnn = MTCNN(post_process=False)  # defaults otherwise; the regressor normalises 0..255 itself
    model = PainRegressor("inception_resnet_v1", pretrained=None).eval()

    def analyse(frame: Frame, run: Run) -> None:
        start = time.perf_counter()
        face = mtcnn(cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB))  # full pyramid + 160×160 crop, or None
        found = time.perf_counter()
        run.stages["face"] += found - start
        if face is not None:
            with torch.inference_mode():
                model(face.unsqueeze(0))
            run.stages["predict"] += time.perf_counter() - found
            run.faces += 1

    run = Run("(a) naive: MTCNN defaults + IRv1 torch eager")
    return measure(run, frames, warmup, analyse=analyse, restart=lambda: None)


def painmon(checkpoint: Path, name: str, frames: list[Frame], warmup: int) -> Run:
    """painmon's Pipeline on ONNX Runtime; stage times are the pipeline's own counters."""
    pipeline = Pipeline.from_checkpoint(checkpoint, backend="onnx")
    start: dict[str, float] = {}

    def analyse(frame: Frame, run: Run) -> None:
        run.faces += pipeline.process(frame).status is FrameStatus.OK

    def restart() -> None:
        pipeline.stream.reset()
        start.update(pipeline.stage_seconds())

    run = measure(Run(name), frames, warmup, analyse=analyse, restart=restart)
    run.stages.update({k: v - start[k] for k, v in pipeline.stage_seconds().items()})
    return run


def random_checkpoint(backbone: str, folder: Path) -> Path:
    """A painmon checkpoint of `backbone` with random weights."""
    model = PainRegressor(backbone, pretrained=None).eval()
    card = card_for(model, name=f"bench-{backbone}", version="0", trained_on="random weights")
    return save_checkpoint(folder / f"{backbone}.safetensors", model, card)


def tracked(name: str, detector: Detector, images: list[np.ndarray], warmup: int) -> FaceRun:
    """The face stage as the pipeline runs it: a FaceTracker per frame, after a warm-up on another tracker."""
    for image in images[:warmup]:
        FaceTracker(detector).update(image)
    tracker = FaceTracker(detector)

    def step(image: np.ndarray) -> np.ndarray | None:
        face, _ = tracker.update(image)
        return None if face is None else face.landmarks

    run = timed(name, images, step)
    run.note = (f"{tracker.full_detections} full, {tracker.window_detections} window searches, "
                f"{tracker.refinements} refinements")
    return run


def detection_ms(detector: Detector, images: list[np.ndarray], min_face: int) -> tuple[float, int, int]:
    """Full-frame detection: median ms over `images` (after one warm-up call), faces found on the first
    image with at least the tracker's acquisition confidence, and in all."""
    faces = detector.detect(images[0], min_face)
    times = []
    for image in images:
        start = time.perf_counter()
        detector.detect(image, min_face)
        times.append(1000 * (time.perf_counter() - start))
    acquire = FaceTracker(detector).acquire_prob
    return float(np.median(times)), sum(face.prob >= acquire for face in faces), len(faces)


def peer_runs(frames: list[np.ndarray], python: Path | None, warmup: int) -> dict[str, FaceRun] | str:
    """Face Mesh on every sequence, here or in `python` (the peer venv); or why it did not run."""
    problem = mediapipe_problem()
    if not problem:
        return face_mesh(frames, warmup)
    if python is None:
        return f"{problem}; give --peer-python (make bench-peer) for the Face Mesh rows"
    return face_mesh_elsewhere(python, frames, warmup)


SAME_FACE = 100.0
"""Agreement (% of the eye distance) beyond which two stages follow different faces: not compared."""


def gap_text(gap: float, width: int) -> str:
    """An agreement figure for a table: %, '—' (not compared) or 'other face'."""
    if not np.isfinite(gap):
        return f"{'—':>{width}}"
    return f"{gap:>{width - 1}.1f}%" if gap <= SAME_FACE else f"{'other face':>{width}}"


def face_table(results: dict[str, list[FaceRun]], no_peer: str) -> None:
    """The face stage at each size: per-frame times, fps, and agreement with both painmon stages."""
    print("\n1. Face stage per frame, tracking as the pipeline runs it (wall ms; CPU: process CPU ms)")
    print(f"{'size':<17}{'face stage':<45}{'found':>10}{'mean':>8}{'median':>8}{'slowest':>8}{'CPU':>7}"
          f"{'fps':>8}{'Δ5 vs ORT':>11}{'vs torch':>11}")
    for label, runs in results.items():
        reference = {run.name: run.points for run in runs[:2]}
        for run in runs:
            gaps = [agreement(points, run.points)[0] if name != run.name else np.nan
                    for name, points in reference.items()]
            print(f"{label:<17}{run.name:<45}{run.found:>5}/{len(run.points):<4}{run.wall_ms.mean():8.2f}"
                  f"{np.median(run.wall_ms):8.2f}{run.wall_ms.max():8.1f}{run.cpu_ms.mean():7.2f}"
                  f"{run.fps:8.1f}" + "".join(gap_text(gap, 11) for gap in gaps))
        if no_peer:
            print(f"{label:<17}{'MediaPipe Face Mesh':<45}not measured: {no_peer}")
    print("Δ5: mean distance of the 5 points to that stage's, % of its inter-ocular distance, over the "
          "frames where both found a face. Counts:")
    for label, runs in results.items():
        print(f"  {label}: " + "; ".join(f"{run.name.split(',')[-1].strip()}: {run.note}"
                                         for run in runs if run.note))


def per_point(results: dict[str, list[FaceRun]]) -> None:
    """Face Mesh's distance to painmon's ONNX Runtime points, each of the 5 points (and its other nose)."""
    print(f"\nFace Mesh vs painmon (ONNX Runtime), % of the eye distance: eye L, eye R, nose {NOSE_TIP}, "
          f"mouth L, mouth R (nose {NOSE_ALTERNATIVE} instead of {NOSE_TIP})")
    for label, runs in results.items():
        mean, points, compared = agreement(runs[0].points, runs[-1].points)
        if len(runs) > 2 and mean <= SAME_FACE:
            print(f"  {label:<17}" + "".join(f"{v:7.1f}" for v in points[:5]) + f"  ({points[5]:.1f})"
                  f"   mean {mean:.1f} ({compared} frames)")


def end_to_end(frames: list[Frame], checkpoints: dict[str, Path], label: str, warmup: int,
               naive_count: int) -> list[Run]:
    """The naive pipeline (its first `naive_count` frames) and painmon with each checkpoint."""
    runs = [naive(frames[:naive_count], warmup)]
    runs += [painmon(path, name, frames, warmup) for name, path in checkpoints.items()]
    print(f"  {label}: end to end done (load {os.getloadavg()[0]:.1f})", flush=True)
    return runs


def as_frames(images: list[np.ndarray]) -> list[Frame]:
    """Images as the engine's frames, 24 fps timestamps."""
    return [Frame(i, i / 24, image) for i, image in enumerate(images)]


def decode(clip: Path, count: int) -> tuple[list[np.ndarray], float]:
    """The clip's first `count` frames and the ms each took to decode."""
    with open_source(clip) as source:
        start = time.perf_counter()
        images = [frame.image for _, frame in zip(range(count), source, strict=False)]
    return images, 1000 * (time.perf_counter() - start) / len(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=CLIP)
    parser.add_argument("--frames", type=int, default=240, help="frames to time (default 240: 10 s of video)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads for every pipeline (default 1, as painmon analyze uses; "
                             "torch's own default, all cores, spin-waits badly when other programs run)")
    parser.add_argument("--peer-python", type=Path,
                        help="interpreter with mediapipe 0.10.x for the Face Mesh rows (the peer venv)")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    images, decode_ms = decode(args.clip, args.frames)
    print(f"clip {args.clip.name}: first {len(images)} frames of {images[0].shape[1]}×{images[0].shape[0]}, "
          f"decoded in {decode_ms:.2f} ms/frame (outside the tables); {os.cpu_count()} CPUs, torch "
          f"{torch.get_num_threads()} thread(s), load average {os.getloadavg()[0]:.2f}", flush=True)
    peer = peer_runs(images, args.peer_python, args.warmup)
    detectors: dict[str, Detector] = {ORT: OrtFaceDetector(), TORCH: FaceDetector()}
    faces: dict[str, list[FaceRun]] = {}
    pipelines: dict[str, list[Run]] = {}
    detections: dict[str, list[tuple[float, int, int]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        os.environ["PAINMON_CACHE_DIR"] = str(Path(folder, "cache"))  # ONNX exports of these random models
        checkpoints = {name: random_checkpoint(backbone, Path(folder)) for backbone, name in (
            ("face_cnn_small", "(b) painmon: ORT face stage + face_cnn_small"),
            ("inception_resnet_v1", "(b') painmon: ORT face stage + IRv1"))}
        for label in LABELS:
            start = time.perf_counter()
            sized = sequence(label, images)
            prepare_ms = 1000 * (time.perf_counter() - start) / len(sized)
            faces[label] = [tracked(name, detector, sized, args.warmup)
                            for name, detector in detectors.items()]
            if isinstance(peer, dict):
                faces[label].append(peer[label])
            print(f"  {label}: face stages done, frames made in {prepare_ms:.2f} ms/frame", flush=True)
            if label == MULTI:
                detections = {name: [detection_ms(d, sized[:5], size) for size in (40, 20)]
                              for name, d in detectors.items()}
                continue
            pixels = sized[0].shape[0] * sized[0].shape[1]
            count = min(len(sized), max(MIN_NAIVE_FRAMES, round(len(sized) * NATIVE_PIXELS / pixels)))
            pipelines[label] = end_to_end(as_frames(sized), checkpoints, label, args.warmup, count)
    report(faces, pipelines, detections, peer if isinstance(peer, str) else "")


def report(faces: dict[str, list[FaceRun]], pipelines: dict[str, list[Run]],
           detections: dict[str, list[tuple[float, int, int]]], no_peer: str) -> None:
    """The three tables and the ratios, all from this run; `no_peer`: why Face Mesh has no rows."""
    face_table(faces, no_peer)
    per_point(faces)
    print("\n2. End to end: face + align + model on frames in memory, ms per frame")
    print(f"{'size':<11}{'pipeline':<44}" + "".join(f"{s:>9}" for s in STAGES)
          + f"{'total':>9}{'fps':>8}{'faces/frames':>13}{'vs (a)':>8}")
    for label, runs in pipelines.items():
        for run in runs:
            print(run.row(label, runs[0]))
    multi_table(faces[MULTI], detections)
    summary(faces, pipelines)


def multi_table(runs: list[FaceRun], detections: dict[str, list[tuple[float, int, int]]]) -> None:
    """The 1080p multi-face case: full-frame detection, faces found, each tracker on the shifted scene."""
    print(f"\n3. 1080p multi-face (5 real faces): full-frame detection (median ms; faces ≥ 0.95 / all), "
          f"tracker on {len(runs[0].wall_ms)} shifted frames (ms)")
    print(f"{'face stage':<45}{'detect 40 px':>13}{'detect 20 px':>13}{'faces':>7}"
          f"{'1st frame':>10}{'median':>8}{'mean':>8}{'fps':>8}")
    for run in runs:
        if run.name in detections:
            (ms40, sure, found), (ms20, _, _) = detections[run.name]
            detected = f"{ms40:13.1f}{ms20:13.1f}{sure:>5}/{found}"
        else:
            detected = f"{'—':>13}{'—':>13}{'—':>7}"
        print(f"{run.name:<45}{detected}{run.wall_ms[0]:10.1f}{np.median(run.wall_ms):8.2f}"
              f"{run.wall_ms.mean():8.2f}{run.fps:8.1f}")


def summary(faces: dict[str, list[FaceRun]], pipelines: dict[str, list[Run]]) -> None:
    """The ratios the README quotes: ORT vs torch vs Face Mesh per size, painmon vs naive."""
    print()
    for label, runs in faces.items():
        ours, before = runs[0], runs[1]
        line = (f"{label:<17} face stage: ONNX Runtime {ours.fps:6.1f} fps = "
                f"{ours.fps / before.fps:4.1f}× torch")
        if len(runs) > 2:
            gap = gap_text(agreement(ours.points, runs[2].points)[0], 11).strip()
            line += (f", {ours.fps / runs[2].fps:4.2f}× Face Mesh ({runs[2].fps:.1f} fps; its points "
                     f"{gap} from painmon's, torch's "
                     f"{agreement(ours.points, before.points)[0]:.2f}%)")
        if label in pipelines:
            base, small, like = pipelines[label]
            line += (f"; end to end {small.fps / base.fps:.1f}× naive ({small.fps:.1f} vs "
                     f"{base.fps:.2f} fps), IRv1 {like.fps / base.fps:.1f}×; scoring every frame "
                     f"{small.fps_all_scored / base.fps:.1f}× and {like.fps_all_scored / base.fps:.1f}×")
        print(line)
    print(f"load average at the end {os.getloadavg()[0]:.2f} (other processes share these CPUs)")


if __name__ == "__main__":
    main()
