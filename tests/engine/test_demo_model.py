"""The demo model shipped in assets/: its card, its scores on the simulated patient through the engine, and
its honesty on faces unlike its rendered training faces (real people: not applicable)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.checkpoint import load_checkpoint
from engine.frame_csv import FrameTable
from engine.paths import DEMO_MODEL
from engine.pipeline import Pipeline
from engine.simulated_patient import SimulatedPatient
from engine.sources import Frame
from engine.status import FrameStatus
from tests.helpers import run_painmon
from train.unbc import load_unbc

REAL_CLIPS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "face_noface.mov", "noface_face.mov")
FACE = (FrameStatus.OK, FrameStatus.NOT_APPLICABLE, FrameStatus.LOW_QUALITY)
"""Statuses of frames in which a face was found."""
GOOD_FACE = (FrameStatus.OK, FrameStatus.NOT_APPLICABLE)
"""Statuses of frames with a face of good quality: the ones the model's applicability decides."""


def test_demo_model_card_says_synthetic_and_not_for_clinical_use() -> None:
    assert DEMO_MODEL.stat().st_size < 5_000_000
    _, card = load_checkpoint(DEMO_MODEL)
    assert card.clinical_use is False
    assert "NOT FOR CLINICAL USE" in card.intended_use and "synthetic" in card.intended_use
    assert card.metrics["synthetic_data"] is True
    assert len(card.metrics["held_out_subjects"]) >= 5
    assert card.metrics["per_subject_mean"]["pcc"] >= 0.8
    assert card.config["model"]["backbone"] == card.backbone == "face_cnn_small"
    assert card.applicability["subjects"] == 100 and card.applicability["coverage"] == 0.99


@pytest.mark.slow
def test_demo_model_follows_the_simulated_patients_pain_through_the_full_pipeline() -> None:
    """Detection, tracking, alignment and regression on frames the model never saw, of a new identity."""
    pipeline = Pipeline.from_checkpoint(DEMO_MODEL, backend="torch", device="cpu")
    patient = SimulatedPatient(seed=11, fps=10.0, size=(640, 360))
    scores, levels, statuses = [], [], Counter()
    for frame in patient.frames(400):
        result = pipeline.process(Frame(frame.index, frame.timestamp, frame.image))
        statuses[result.status] += 1
        if result.status is FrameStatus.OK:
            scores.append(result.score)
            levels.append(frame.level)
    levels = np.array(levels)
    assert len(levels) >= 0.95 * 400
    assert len(np.unique(levels)) >= 3  # several pain episodes of different strength
    pcc = np.corrcoef(scores, levels)[0, 1]
    assert pcc >= 0.8, f"PCC {pcc:.3f} against the rendered PSPI level"
    good = sum(statuses[s] for s in GOOD_FACE)
    assert statuses[FrameStatus.NOT_APPLICABLE] <= 0.05 * good, statuses


@pytest.mark.slow
def test_demo_model_applies_to_held_out_subjects_of_the_synthetic_twin(tiny_twin: Path) -> None:
    """Rendered identities it was neither trained nor described with (seed 1): at most 5 % of good faces
    declared outside."""
    pipeline = Pipeline.from_checkpoint(DEMO_MODEL, backend="torch", device="cpu")
    statuses: Counter[FrameStatus] = Counter()
    for number, record in enumerate(load_unbc(tiny_twin, progress=False).frames):
        result = pipeline.process(Frame(number, number / 25, cv2.imread(str(record.image))))
        statuses[result.status] += 1
    good = sum(statuses[s] for s in GOOD_FACE)
    assert good >= 0.9 * 120, statuses
    assert statuses[FrameStatus.NOT_APPLICABLE] <= 0.05 * good, statuses


@pytest.mark.slow
def test_demo_model_scores_almost_no_real_face(clips_dir: Path, tmp_path: Path) -> None:
    """Trained on rendered faces, the demo model declares real people not applicable: `painmon analyze`
    scores at most 5 % of the frames of the real clips in which it found a face, and says why the rest
    have none."""
    statuses: Counter[FrameStatus] = Counter()
    for clip in REAL_CLIPS:
        out = tmp_path / f"{clip}.csv"
        result = run_painmon("analyze", clips_dir / clip, "--out", out)
        assert result.returncode == 0, result.stderr
        table = FrameTable.read_csv(out)
        assert np.isnan(table.score[table.status != FrameStatus.OK.value]).all()
        assert "model not applicable" in result.stdout
        statuses.update(FrameStatus(status) for status in table.status)
    faces = sum(statuses[s] for s in FACE)
    assert faces >= 600, statuses  # the clips' face frames
    assert statuses[FrameStatus.OK] <= 0.05 * faces, statuses
    assert statuses[FrameStatus.NOT_APPLICABLE] >= 0.5 * faces, statuses  # not merely poor faces
