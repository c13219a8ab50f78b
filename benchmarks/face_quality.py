"""The figures behind engine/quality.py's limits: each quality measure on real faces, degraded real faces and
the simulated patient, and which frames the limits make unusable (and why).

    python benchmarks/face_quality.py [--frames 8]

Real faces: `--frames` frames of each of single_face.mp4, WolfgangLanger_Pexels.mp4 and face_noface.mov (the
clips of FACTS.md §2, `make clips`), spread over each clip; each is also rotated, darkened, brightened,
blurred and shrunk with OpenCV. Simulated: 150 frames of the simulated patient (seed 0). Prints, per
condition, the faces found, the range (min–max) of each measure and the share of frames found unusable, by
reason.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.align import align_face  # noqa: E402
from engine.detector import FaceDetector  # noqa: E402
from engine.quality import LIMITS, FaceQuality, assess  # noqa: E402
from engine.simulated_patient import SimulatedPatient  # noqa: E402
from engine.tracker import choose_patient  # noqa: E402

CLIPS = ROOT / "tests" / "data" / "clips"
Degrade = Callable[[np.ndarray], np.ndarray]


def rotate(angle: float) -> Degrade:
    def apply(frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        return cv2.warpAffine(frame, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
    return apply


def gain(factor: float) -> Degrade:
    return lambda frame: np.clip(frame.astype(np.float32) * factor, 0, 255).astype(np.uint8)


def blur(sigma: float) -> Degrade:
    return lambda frame: cv2.GaussianBlur(frame, (0, 0), sigma)


def shrink(factor: float) -> Degrade:
    return lambda frame: cv2.resize(frame, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


CONDITIONS: dict[str, Degrade] = {
    "as recorded": lambda frame: frame,
    **{f"rotated {a:+d}°": rotate(a) for a in (20, -30, 45, 60)},
    **{f"light × {g:g}": gain(g) for g in (0.4, 0.25, 0.15, 1.5, 2.0, 3.0)},
    **{f"blur σ {s:g} px": blur(s) for s in (1, 2, 3, 5)},
    **{f"shrunk × {f:g}": shrink(f) for f in (0.35, 0.25, 0.18, 0.12)},
}


def clip_frames(name: str, count: int) -> Iterator[np.ndarray]:
    """`count` frames spread evenly over a clip."""
    capture = cv2.VideoCapture(str(CLIPS / name))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    for index in np.linspace(0, total - 1, count).astype(int):
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, frame = capture.read()
        if ok:
            yield frame
    capture.release()


def quality_of(detector: FaceDetector, frame: np.ndarray) -> FaceQuality | None:
    """The patient face's quality in a frame (as the pipeline would see it), None without a face."""
    faces = detector.detect(frame, 12)
    if not faces:
        return None
    face = choose_patient(faces, frame.shape[:2])
    return assess(face.landmarks, align_face(frame, face.landmarks, (112, 96)))


def report(name: str, qualities: list[FaceQuality | None]) -> None:
    found = [q for q in qualities if q is not None]
    unusable = Counter(q.reason for q in found if not q.usable)
    share = ", ".join(f"{reason} {100 * n / len(found):.0f} %" for reason, n in unusable.most_common())
    print(f"{name}: {len(found)}/{len(qualities)} faces; unusable: {share or 'none'}")
    ranges = []
    for measure in LIMITS:
        values = np.array([q.measures[measure] for q in found])
        if len(values):
            ranges.append(f"{measure} {values.min():.3g}–{values.max():.3g}")
    print("    " + "; ".join(dict.fromkeys(ranges)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8, help="frames per real clip")
    args = parser.parse_args()
    torch.set_num_threads(1)
    detector = FaceDetector()
    frames = [frame for name in ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "face_noface.mov")
              for frame in clip_frames(name, args.frames)]
    for condition, degrade in CONDITIONS.items():
        report(f"real, {condition}", [quality_of(detector, degrade(frame)) for frame in frames])
    patient = SimulatedPatient(0)
    report("simulated patient", [quality_of(detector, patient.next_frame().image) for _ in range(150)])


if __name__ == "__main__":
    main()
