"""The monitor on a CPU install without the PyTorch stack (the `without_torch` fixture): the real app, its
first-start bed (a simulated patient) scored by the demo model on ONNX Runtime, MTCNN included."""

from __future__ import annotations

import math
import signal
from pathlib import Path

from app.record import RecordReader
from tests.helpers import run_until_recorded


def test_the_monitor_scores_a_bed_without_the_pytorch_stack(launch, without_torch, tmp_path: Path) -> None:
    app = launch(without_torch)
    run_until_recorded(app, 30)
    app.send_signal(signal.SIGTERM)
    assert app.wait(60) == 0
    with RecordReader() as reader:
        [session] = reader.sessions()
        samples = reader.samples(session.id)
    scored = [score for score in samples.score if not math.isnan(score)]
    assert len(scored) >= 10 and all(0.0 <= score <= 5.0 for score in scored)
    assert "Traceback" not in (tmp_path / "stderr.txt").read_text()
