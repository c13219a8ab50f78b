"""The demo model shipped in assets/: its card, and its scores on the simulated patient through the engine."""

from __future__ import annotations

import numpy as np
import pytest

from engine.checkpoint import load_checkpoint
from engine.paths import DEMO_MODEL
from engine.pipeline import Pipeline
from engine.simulated_patient import SimulatedPatient
from engine.sources import Frame
from engine.status import FrameStatus


def test_demo_model_card_says_synthetic_and_not_for_clinical_use() -> None:
    assert DEMO_MODEL.stat().st_size < 5_000_000
    _, card = load_checkpoint(DEMO_MODEL)
    assert card.clinical_use is False
    assert "NOT FOR CLINICAL USE" in card.intended_use and "synthetic" in card.intended_use
    assert card.metrics["synthetic_data"] is True
    assert len(card.metrics["held_out_subjects"]) >= 5
    assert card.metrics["per_subject_mean"]["pcc"] >= 0.8
    assert card.config["model"]["backbone"] == card.backbone == "face_cnn_small"


@pytest.mark.slow
def test_demo_model_follows_the_simulated_patients_pain_through_the_full_pipeline() -> None:
    """Detection, tracking, alignment and regression on frames the model never saw, of a new identity."""
    pipeline = Pipeline.from_checkpoint(DEMO_MODEL, backend="torch", device="cpu")
    patient = SimulatedPatient(seed=11, fps=10.0, size=(640, 360))
    scores, levels = [], []
    for frame in patient.frames(400):
        result = pipeline.process(Frame(frame.index, frame.timestamp, frame.image))
        if result.status is FrameStatus.OK:
            scores.append(result.score)
            levels.append(frame.level)
    levels = np.array(levels)
    assert len(levels) >= 0.95 * 400
    assert len(np.unique(levels)) >= 3  # several pain episodes of different strength
    pcc = np.corrcoef(scores, levels)[0, 1]
    assert pcc >= 0.8, f"PCC {pcc:.3f} against the rendered PSPI level"
