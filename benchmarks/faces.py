"""Face stage speed: facenet-pytorch's MTCNN with its defaults on every frame vs painmon's tracker.

Prints median and mean ms per frame on real 640×360 clips, and the tracker's speed-up over the baseline
measured in the same run. Usage: python benchmarks/faces.py [--threads N] [--frames N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from facenet_pytorch import MTCNN

from engine.detector import FaceDetector
from engine.tracker import FaceTracker

CLIPS = Path(__file__).resolve().parent.parent / "tests" / "data" / "clips"


def read_clip(name: str, count: int) -> list[np.ndarray]:
    """First `count` BGR frames of a clip."""
    cap = cv2.VideoCapture(str(CLIPS / name))
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def per_frame_ms(frames: list[np.ndarray], work: Callable[[np.ndarray], object]) -> np.ndarray:
    """Milliseconds `work` takes on each frame, after two warm-up calls."""
    work(frames[0])
    work(frames[0])
    times = []
    for frame in frames:
        start = time.perf_counter()
        work(frame)
        times.append((time.perf_counter() - start) * 1000)
    return np.array(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads")
    parser.add_argument("--frames", type=int, default=240, help="frames per clip")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)")

    detector = FaceDetector()
    baseline = MTCNN()  # facenet-pytorch defaults: min_face_size 20, thresholds (0.6, 0.7, 0.7), factor 0.709
    for clip in ("single_face.mp4", "WolfgangLanger_Pexels.mp4"):
        frames = read_clip(clip, args.frames)
        rgb = [cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) for frame in frames]
        known = detector.detect(frames[0])[0].box
        tracker = FaceTracker(detector)
        rows = {
            "facenet MTCNN.detect, defaults": per_frame_ms(
                rgb, lambda img: baseline.detect(img, landmarks=True)
            ),
            "FaceDetector.detect, min_face_size 40": per_frame_ms(frames, detector.detect),
            "FaceDetector.refine (RNet+ONet)": per_frame_ms(
                frames, lambda frame, box=known: detector.refine(frame, box)
            ),
            "FaceTracker.update": per_frame_ms(frames, tracker.update),
        }
        height, width = frames[0].shape[:2]
        print(f"\n{clip}: {len(frames)} frames of {width}×{height}")
        for name, ms in rows.items():
            print(f"  {name:<40} median {np.median(ms):6.1f} ms   mean {ms.mean():6.1f} ms")
        print(
            f"  tracker: {tracker.full_detections} full detections, {tracker.refinements} refinements "
            f"(incl. warm-up); speed-up over the baseline: "
            f"{rows['facenet MTCNN.detect, defaults'].mean() / rows['FaceTracker.update'].mean():.1f}× (mean)"
        )


if __name__ == "__main__":
    main()
