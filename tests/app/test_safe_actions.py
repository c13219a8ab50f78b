"""Care with what cannot be undone (pytest-qt, offscreen, real files and threads): a model applied in Settings
is loaded and self-tested before the monitor switches to it, a model that is gone or damaged at start-up is
replaced by the bundled demo model with a banner saying so, and closing the window while beds are monitored
asks first (removing a bed: tests/app/test_monitor_live.py and test_monitor_parts.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from app.bed_runtime import BedRuntime
from app.beds import BedConfig, Source
from app.main_window import MainWindow
from app.record import RecordReader
from app.settings import MonitorSettings, save_settings, settings_path
from app.settings_view import CHECKING
from engine.paths import DEMO_MODEL
from tests.helpers import LIVE_TIMEOUT_MS, answer_message_box


def scored(runtime: BedRuntime) -> int:
    """Samples of a bed with a score (finite)."""
    return int(np.isfinite(runtime.history.score).sum())


def scores_keep_coming(qtbot, runtime: BedRuntime) -> None:
    """Wait for five more scored samples of a bed."""
    more = scored(runtime) + 5
    qtbot.waitUntil(lambda: scored(runtime) >= more, timeout=LIVE_TIMEOUT_MS)


def apply_model(qtbot, window: MainWindow, path: Path) -> None:
    """Enter a model file in Settings and press Apply."""
    window.settings_view.model_edit.setText(str(path))
    qtbot.mouseClick(window.settings_view.apply_button, Qt.MouseButton.LeftButton)


def test_a_damaged_or_missing_model_is_refused_and_the_running_one_keeps_scoring(
        qtbot, open_window, model_file: Path, tmp_path: Path) -> None:
    window = open_window(beds=[BedConfig("Bed 1", Source.simulated(1))])
    bed, view = window.monitor.beds[0], window.settings_view
    qtbot.waitUntil(lambda: scored(bed) >= 3, timeout=LIVE_TIMEOUT_MS)
    saved = settings_path().read_bytes()
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(np.random.default_rng(0).bytes(4096))
    gone = tmp_path / "gone.safetensors"
    for path, reason in [(damaged, f"{damaged} is damaged or not a safetensors file: "),
                         (gone, f"model file not found: {gone}")]:
        with qtbot.waitSignal(window.monitor.model_checked, timeout=LIVE_TIMEOUT_MS) as checked:
            apply_model(qtbot, window, path)
        assert checked.args[0].startswith(reason)
        message = view.check_label.text()
        assert message == f"Model not changed: {checked.args[0]}. The model running keeps scoring."
        assert "\n" not in message and "Traceback" not in message and view.apply_button.isEnabled()
        assert settings_path().read_bytes() == saved and window.monitor.settings.model_path == str(DEMO_MODEL)
        assert view.model_edit.text() == str(DEMO_MODEL)  # the field shows what runs, not the refused path
        scores_keep_coming(qtbot, bed)  # from the old model
        assert window.monitor.model.path == str(DEMO_MODEL) and window.monitor.model.error is None

    good = Path(shutil.copy(DEMO_MODEL, tmp_path / "ward_model.safetensors"))
    with qtbot.waitSignal(window.monitor.model_changed, timeout=LIVE_TIMEOUT_MS) as changed:
        apply_model(qtbot, window, good)
        assert view.check_label.text() == CHECKING and not view.apply_button.isEnabled()
    assert changed.args[0].path == str(good) and changed.args[0].error is None
    assert view.check_label.text() == "" and view.apply_button.isEnabled()
    assert window.monitor.settings.model_path == str(good)
    assert MonitorSettings(model_path=str(good), backend="onnx", device="cpu") == window.monitor.settings
    assert str(good) in settings_path().read_text()


def test_start_up_with_a_deleted_model_runs_the_demo_model_and_the_banner_says_so(
        qtbot, open_window, model_file: Path, tmp_path: Path) -> None:
    deleted = Path(shutil.copy(DEMO_MODEL, tmp_path / "ward_model.safetensors"))
    save_settings(MonitorSettings(model_path=str(deleted), backend="onnx", device="cpu"))
    deleted.unlink()
    saved = settings_path().read_bytes()
    window = open_window(beds=[BedConfig("Bed 1", Source.simulated(1))])
    qtbot.waitUntil(lambda: window.monitor.model is not None, timeout=LIVE_TIMEOUT_MS)
    assert window.monitor.model.path == str(DEMO_MODEL) and window.monitor.model.error is None
    banner = window.model_banner.text()
    assert window.model_banner.isVisible() and "\n" not in banner
    assert banner.startswith(f"Running the bundled demo model instead: model file not found: {deleted}")
    assert "NOT FOR CLINICAL USE" in banner
    scores_keep_coming(qtbot, window.monitor.beds[0])
    assert settings_path().read_bytes() == saved  # the settings still name the model, should it come back


def test_closing_the_window_while_beds_are_monitored_asks_first(qtbot, open_window, tmp_path: Path) -> None:
    save_settings(MonitorSettings(model_path=str(tmp_path / "none.safetensors"), retention_days=30))
    beds = [BedConfig("Bed 1", Source.simulated(1)), BedConfig("Bed 2", Source.simulated(2))]
    window = open_window(beds=beds, fallback_model=None)  # video only
    qtbot.waitUntil(lambda: all(len(b.history) >= 3 for b in window.monitor.beds), timeout=LIVE_TIMEOUT_MS)
    question = answer_message_box("Cancel")
    assert not window.close()
    assert question[0] == "Close painmon? Monitoring and alarms stop for Bed 1, Bed 2."
    assert question[1] == ("Each open session is ended and kept in the record with its scores, alarms and "
                           "notes; video recordings are kept. Data retention (Settings) deletes them 30 days "
                           "after they end.")
    count = len(window.monitor.beds[0].history)
    qtbot.waitUntil(lambda: len(window.monitor.beds[0].history) >= count + 3, timeout=LIVE_TIMEOUT_MS)
    assert window.isVisible()  # still monitoring

    answer_message_box("Yes")
    assert window.close()
    assert not window.isVisible() and not window.monitor.timer.isActive()
    with RecordReader() as reader:
        sessions = reader.sessions()
        assert len(sessions) == 2 and all(s.ended_at is not None for s in sessions)
