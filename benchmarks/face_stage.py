"""Face stage speed: the torch-free MTCNN (ONNX Runtime) against facenet-pytorch's (torch), in one run.

engine.mtcnn against engine.detector, both measured on real frames of WolfgangLanger_Pexels.mp4.

Prints the median ms per call and the ratio torch / ONNX Runtime for: full detection (min_face_size 40) at
640×360 and at 1920×1080 (the frames resized up), `refine` of one box, `refine_many` of 1, 4, 8 and 16 boxes
from different frames (ms per face), and the tracker per frame through the clip (median, mean and slowest).
Usage: python benchmarks/face_stage.py [--frames N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from faces import read_clip  # noqa: E402  (benchmarks/faces.py, beside this script)

from engine.detector import FaceDetector  # noqa: E402
from engine.mtcnn import OrtFaceDetector  # noqa: E402
from engine.tracker import FaceTracker  # noqa: E402
from engine.types import Detector  # noqa: E402

CLIP = ROOT / "tests" / "data" / "clips" / "WolfgangLanger_Pexels.mp4"


def call_ms(calls: list[Callable[[], object]]) -> np.ndarray:
    """Milliseconds of each call, after two warm-up calls of the first."""
    calls[0]()
    calls[0]()
    times = []
    for call in calls:
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return np.array(times)


def measure(detector: Detector, frames: list[np.ndarray], boxes: list[np.ndarray]) -> dict[str, float]:
    """Median ms of each call (per face for refine_many); the tracker's median, mean and slowest frame."""
    large = [cv2.resize(frame, (1920, 1080)) for frame in frames[:10]]
    steps = range(1, min(len(frames), 41))
    rows = {
        "detect 640×360": np.median(call_ms([lambda f=f: detector.detect(f) for f in frames[:40]])),
        "detect 1920×1080": np.median(call_ms([lambda f=f: detector.detect(f) for f in large])),
        "refine": np.median(call_ms([lambda i=i: detector.refine(frames[i], boxes[i - 1]) for i in steps])),
    }
    for count in (1, 4, 8, 16):
        batches = [[(frames[i + k], boxes[i + k - 1]) for k in range(count)] for i in range(1, 25)]
        ms = call_ms([lambda batch=batch: detector.refine_many(batch) for batch in batches])
        rows[f"refine_many of {count}, per face"] = np.median(ms) / count
    tracker = FaceTracker(detector)
    ms = call_ms([lambda f=f: tracker.update(f) for f in frames])
    rows["tracker per frame (median)"], rows["tracker per frame (mean)"] = np.median(ms), ms.mean()
    rows["tracker per frame (slowest)"] = ms.max()
    print(f"  {type(detector).__name__}: tracker {tracker.full_detections} full, {tracker.window_detections} "
          f"window searches, {tracker.refinements} refinements (incl. warm-up)")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=472, help="frames of the clip (tracker; at least 41)")
    frames = read_clip(CLIP.name, parser.parse_args().frames)
    torch.set_num_threads(1)  # as engine.pipeline.face_detector_for sets it for the torch detector
    detectors: dict[str, Detector] = {"torch": FaceDetector(), "onnxruntime": OrtFaceDetector()}
    boxes = [faces[0].box for faces in map(detectors["torch"].detect, frames[:41])]
    print(f"{CLIP.name}: {len(frames)} frames of 640×360; torch {torch.__version__}, 1 thread; ONNX Runtime "
          "1 intra-op thread")
    results = {name: measure(detector, frames, boxes) for name, detector in detectors.items()}
    print(f"\n  {'ms':<32}{'torch':>9}{'ORT':>9}{'torch/ORT':>11}")
    for row in results["torch"]:
        before, after = results["torch"][row], results["onnxruntime"][row]
        print(f"  {row:<32}{before:>9.2f}{after:>9.2f}{before / after:>10.1f}×")


if __name__ == "__main__":
    main()
