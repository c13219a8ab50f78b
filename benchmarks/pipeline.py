"""Pipeline speed on a real 640×360 clip: the naive pipeline against painmon's, same frames, one run.

(a) naive: facenet-pytorch MTCNN with its defaults on every frame (full pyramid, min face 20 px, 160×160
    crop) + the InceptionResnetV1 regressor in PyTorch eager mode.
(b) painmon: engine.pipeline — MTCNN tracking (refine the last box; full detection only on loss or every
    N frames), 5-point alignment, ONNX Runtime — with the small CPU backbone painmon ships for CPUs
    (face_cnn_small, 112×96), and (b') the same with InceptionResnetV1 (160×160), like with like.

Every pipeline decodes the clip itself: end to end = decode + face + align + model, wall clock. All use the
same torch thread count (--threads, default 1). Models carry random weights (speed does not depend on them).
Run: `.venv/bin/python benchmarks/pipeline.py`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import cv2
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.checkpoint import card_for, save_checkpoint  # noqa: E402
from engine.model import PainRegressor  # noqa: E402
from engine.pipeline import Pipeline  # noqa: E402
from engine.sources import Frame, open_source  # noqa: E402
from engine.status import FrameStatus  # noqa: E402

CLIP = ROOT / "tests" / "data" / "clips" / "WolfgangLanger_Pexels.mp4"
STAGES = ("decode", "face", "align", "predict")


@dataclass
class Run:
    """Seconds per stage, wall clock and counts of one pipeline over the clip."""

    name: str
    frames: int = 0
    faces: int = 0
    wall: float = 0.0
    stages: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    note: str = ""

    @property
    def fps(self) -> float:
        return self.frames / self.wall

    def row(self, baseline: Run) -> str:
        """Table line: ms per frame of each stage and in total, fps, faces found, speed-up over baseline."""
        stages = "".join(f"{1000 * self.stages[s] / self.frames:9.1f}" for s in STAGES)
        return (f"{self.name:<46}{stages}{1000 * self.wall / self.frames:9.1f}{self.fps:8.1f}"
                f"{self.faces:>8}/{self.frames:<5}{self.fps / baseline.fps:7.1f}×")


def measure(run: Run, clip: Path, count: int, warmup: int, *, analyse: Callable[[Frame, Run], None],
            restart: Callable[[], None]) -> Run:
    """Warm up on the first frames, restart, then time decode + `analyse` over the first `count` frames."""
    with open_source(clip) as source:
        for frame in islice(source, warmup):
            analyse(frame, Run("warm-up"))
    restart()
    with open_source(clip) as source:
        frames = islice(source, count)
        begin = time.perf_counter()
        while True:
            start = time.perf_counter()
            frame = next(frames, None)
            run.stages["decode"] += time.perf_counter() - start
            if frame is None:
                break
            analyse(frame, run)
            run.frames += 1
        run.wall = time.perf_counter() - begin
    return run


def naive(clip: Path, count: int, warmup: int) -> Run:
    """facenet-pytorch MTCNN defaults on every frame + torch eager InceptionResnetV1 regressor."""
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
    return measure(run, clip, count, warmup, analyse=analyse, restart=lambda: None)


def painmon(checkpoint: Path, name: str, clip: Path, count: int, warmup: int) -> Run:
    """painmon's Pipeline on ONNX Runtime; stage times are the pipeline's own counters."""
    pipeline = Pipeline.from_checkpoint(checkpoint, backend="onnx")
    tracker = pipeline.stream.tracker
    start: dict[str, float] = {}

    def analyse(frame: Frame, run: Run) -> None:
        run.faces += pipeline.process(frame).status is FrameStatus.OK

    def restart() -> None:
        pipeline.stream.reset()
        start.update(pipeline.stage_seconds(), detections=tracker.full_detections,
                     refines=tracker.refinements)

    run = measure(Run(name), clip, count, warmup, analyse=analyse, restart=restart)
    run.stages.update({k: v - start[k] for k, v in pipeline.stage_seconds().items()})
    run.note = (f"{tracker.full_detections - start['detections']} full detections, "
                f"{tracker.refinements - start['refines']} refinements")
    return run


def random_checkpoint(backbone: str, folder: Path) -> Path:
    """A painmon checkpoint of `backbone` with random weights."""
    model = PainRegressor(backbone, pretrained=None).eval()
    card = card_for(model, name=f"bench-{backbone}", version="0", trained_on="random weights")
    return save_checkpoint(folder / f"{backbone}.safetensors", model, card)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=CLIP)
    parser.add_argument("--frames", type=int, default=240, help="frames to time (default 240: 10 s of video)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads for every pipeline (default 1, as painmon analyze uses; "
                             "torch's own default, all cores, spin-waits badly when other programs run)")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)

    with open_source(args.clip) as source:
        width, height = source.size
    print(f"clip {args.clip.name} ({width}×{height}), first {args.frames} frames; "
          f"{os.cpu_count()} CPUs, torch {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as folder:
        os.environ["PAINMON_CACHE_DIR"] = str(Path(folder, "cache"))  # ONNX exports of these random models
        runs = [naive(args.clip, args.frames, args.warmup)]
        for backbone, name in (("face_cnn_small", "(b) painmon: tracking + ORT face_cnn_small"),
                               ("inception_resnet_v1", "(b') painmon: tracking + ORT IRv1")):
            checkpoint = random_checkpoint(backbone, Path(folder))
            runs.append(painmon(checkpoint, name, args.clip, args.frames, args.warmup))

    print(f"\n{'ms per frame':<46}" + "".join(f"{s:>9}" for s in STAGES)
          + f"{'total':>9}{'fps':>8}{'faces/frames':>14}{'vs (a)':>7}")
    for run in runs:
        print(run.row(runs[0]))
    for run in runs[1:]:
        print(f"{run.name}: {run.note}")
    print(f"load average at the end {os.getloadavg()[0]:.1f} (other processes share these CPUs)")
    base, ours, like = runs
    print(f"\npainmon (b) {ours.fps:.1f} fps vs naive (a) {base.fps:.1f} fps: {ours.fps / base.fps:.1f}× "
          f"faster; like with like (b') {like.fps:.1f} fps: {like.fps / base.fps:.1f}×")


if __name__ == "__main__":
    main()
