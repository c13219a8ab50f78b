"""`painmon --self-test`: run the engine on the simulated patient, headless, and check what comes out.

Meant for a fresh install or a PyInstaller bundle: it proves the model, MTCNN weights, backends and video
stack load and run together, without a camera, a display or a network.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from engine import paths
from engine.backends import Backend
from engine.pipeline import Pipeline
from engine.simulated_patient import SimulatedPatient
from engine.sources import Frame
from engine.status import FrameStatus

FRAMES = 60
MIN_FACE_FRACTION = 0.8  # the simulated patient is always in view; the tracker may miss the odd frame


def check(frames: int = FRAMES, model: Path = paths.DEMO_MODEL, backend: str = Backend.AUTO,
          device: str | None = None) -> tuple[list[str], str | None]:
    """Analyse `frames` simulated frames with a model (the demo model by default); return report lines and a
    failure (or None). A model that cannot be loaded raises PainmonError (ModelFileError, ...)."""
    pipeline = Pipeline.from_checkpoint(model, backend=backend, device=device)
    predictor = pipeline.scorer.predictor
    patient = SimulatedPatient(seed=0)
    faces, scores = 0, []
    start = time.perf_counter()
    for index, timestamp, image in (patient.read() for _ in range(frames)):
        result = pipeline.process(Frame(index, timestamp, image))
        faces += result.status is FrameStatus.OK
        if not math.isnan(result.score):
            scores.append(result.score)
    elapsed = time.perf_counter() - start
    report = [
        f"model:   {predictor.card.name} ({model.name})",
        f"backend: {predictor.name} on {predictor.device}",
        f"frames:  {frames} in {elapsed:.1f} s ({frames / elapsed:.1f} fps)",
        f"faces:   {faces}/{frames}",
        f"scores:  {len(scores)}" + (f", {min(scores):.2f} to {max(scores):.2f}" if scores else ""),
    ]
    if faces < MIN_FACE_FRACTION * frames:
        return report, f"a face was found in only {faces} of {frames} frames of the simulated patient"
    if len(scores) != faces:
        return report, f"{faces} faces were found but {len(scores)} scored"
    bad = [s for s in scores if not 0.0 <= s <= 5.0]
    if bad:
        return report, f"{len(bad)} scores outside 0-5 (first: {bad[0]})"
    return report, None


def run(args: argparse.Namespace) -> int:
    """Print the self-test report; exit 0 when it passes, 1 with a one-line reason when it does not."""
    report, failure = check(backend=args.backend)
    print("\n".join(report))
    if failure:
        print(f"painmon: self-test failed: {failure}")
        return 1
    print("self-test passed")
    return 0
