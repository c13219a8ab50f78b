"""AU bars in the app as real Qt widgets under pytest-qt (offscreen): the widget itself, the live bed view
fed through the capture and inference workers from a real face video, and the replay view at the cursor;
absent for a model without AUs.

The AU model is an ensemble of two small CNNs with random weights (batch-norm statistics from real faces)
and AU thresholds spread over 0.3–0.7 (tests.conftest.save_random_au_checkpoint).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtWidgets import QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from app.bed_view import BedView
from app.beds import BedConfig, Source, save_beds
from app.monitor import Monitor
from app.replay.analysis import AnalysisSettings
from app.replay.view import ReplayView
from app.settings import MonitorSettings, save_settings
from app.widgets.au_bars import AUBars
from engine.align import align_face
from engine.au import DEFAULT_AUS
from engine.checkpoint import load_checkpoint
from engine.frame_csv import CSV_COLUMNS, au_column
from engine.onnx_export import cached_export
from engine.tensorrt.networks import network_inputs
from tests.helpers import ANALYSIS_TIMEOUT_MS, save_random_au_checkpoint, save_random_checkpoint, show

WAIT_MS = 60_000  # generous: the test machine's two cores are shared
THRESHOLDS = dict(zip(DEFAULT_AUS, np.linspace(0.3, 0.7, len(DEFAULT_AUS)).tolist(), strict=True))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, face_frames: list[np.ndarray]) -> dict[str, Path]:
    """The random AU checkpoint and a random regressor, exported to ONNX once in the module's cache."""
    folder = tmp_path_factory.mktemp("au-app")
    faces = network_inputs(face_frames[::3], (112, 96))["regressor"][0]
    models = {"au": save_random_au_checkpoint(folder / "au.safetensors", faces),
              "regressor": save_random_checkpoint(folder / "regressor.safetensors")}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PAINMON_CACHE_DIR", str(folder / "cache"))
        for model in models.values():
            cached_export(model)
    return {**models, "cache": folder / "cache"}


@pytest.fixture
def model(models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """A model by kind ("au" or "regressor"), with the module's ONNX exports."""
    monkeypatch.setenv("PAINMON_CACHE_DIR", str(models["cache"]))
    return models.__getitem__


def bar_heights(bars: AUBars) -> list[float]:
    return [float(h) for h in bars.bars.opts["height"]]


def test_au_bars_show_probabilities_thresholds_and_present_aus(qtbot: QtBot):
    window = QWidget()
    bars = AUBars()
    QVBoxLayout(window).addWidget(bars)
    show(qtbot, window, 300, 240)
    assert not bars.isVisible()  # no model with AUs yet
    bars.set_thresholds({4: 0.5, 6: 0.3, 43: 0.8})
    assert bars.isVisible() and bars.labels == ["AU4", "AU6", "AU43"]
    axis = bars.getPlotItem().getAxis("bottom")
    assert [label for _, label in axis._tickLevels[0]] == ["AU4", "AU6", "AU43"]
    x, y = bars.threshold_marks.getData()
    assert list(y) == [0.5, 0.5, 0.3, 0.3, 0.8, 0.8]  # one mark across each bar
    np.testing.assert_allclose(x, [-0.35, 0.35, 0.65, 1.35, 1.65, 2.35])
    assert bar_heights(bars) == [0.0, 0.0, 0.0] and bars.present() == []

    bars.set_values({4: 0.5, 6: 0.2, 43: 0.95})
    assert bar_heights(bars) == [0.5, 0.2, 0.95]
    assert bars.present() == [4, 43]  # at or above the threshold
    bars.set_values(None)  # no face
    assert bar_heights(bars) == [0.0, 0.0, 0.0] and bars.values is None and bars.present() == []
    bars.set_values({4: 0.9, 7: 0.9})  # a frame of another model
    assert bars.values is None and bars.present() == []

    bars.set_thresholds({})  # a model without AUs
    assert not bars.isVisible() and bar_heights(bars) == []


@pytest.fixture
def bed_view(qtbot: QtBot, clips_dir: Path) -> Iterator[Callable[[Path], tuple[Monitor, BedView]]]:
    """Opens a monitor running `model` on ONNX Runtime over one bed that plays a real face video, and its
    bed view; closes the monitor after the test."""
    monitors: list[Monitor] = []

    def open_(model: Path) -> tuple[Monitor, BedView]:
        save_settings(MonitorSettings(model_path=str(model), backend="onnx", device="cpu"))
        save_beds([BedConfig("Bed 1", Source.file(clips_dir / "WolfgangLanger_Pexels.mp4"))])
        monitor = Monitor(retry_s=0.5)
        monitors.append(monitor)
        return monitor, show(qtbot, BedView(monitor), 1200, 700)

    yield open_
    for monitor in monitors:
        monitor.close()


def test_bed_view_shows_the_aus_of_the_newest_frame_beside_the_curve(qtbot: QtBot, bed_view, model):
    monitor, view = bed_view(model("au"))
    bed = monitor.beds[0]
    snapshot = {}

    def bars_show_a_face() -> bool:  # taken in one go: the display tick may move on after it
        if view.au_bars.values is None or bed.latest is None or bed.latest.face is None:
            return False
        snapshot.update(values=view.au_bars.values, heights=bar_heights(view.au_bars),
                        present=view.au_bars.present(), latest=bed.latest)
        return True

    qtbot.waitUntil(bars_show_a_face, timeout=WAIT_MS)
    bars = view.au_bars
    assert bars.isVisible() and bars.labels == [f"AU{au}" for au in DEFAULT_AUS]
    assert list(bars.thresholds) == list(DEFAULT_AUS)
    np.testing.assert_allclose(list(bars.thresholds.values()), list(THRESHOLDS.values()), atol=1e-6)
    np.testing.assert_allclose(bars.threshold_marks.getData()[1][::2], list(THRESHOLDS.values()), atol=1e-6)
    assert bars.geometry().left() >= view.curve.geometry().right()  # beside the curve

    # the bars are the model's AU probabilities of the face in the newest frame, through the workers
    latest = snapshot["latest"]
    assert snapshot["values"] == latest.aus
    network, _ = load_checkpoint(model("au"))
    face = align_face(latest.image, latest.face.landmarks, network.input_size)
    with torch.no_grad():
        _, probs = network.forward_with_aus(torch.from_numpy(face[None]).permute(0, 3, 1, 2).float())
    np.testing.assert_allclose(snapshot["heights"], probs[0].numpy(), atol=1e-4)
    assert snapshot["present"] == [au for au, p in zip(DEFAULT_AUS, probs[0].tolist(), strict=True)
                                   if p >= THRESHOLDS[au]]
    assert 0 < len(snapshot["present"]) < len(DEFAULT_AUS)  # some highlighted, some not

    monitor.set_paused(bed.bed_id, True)  # privacy pause: no face shown, no AUs either
    qtbot.waitUntil(lambda: view.au_bars.values is None, timeout=WAIT_MS)
    assert bars.isVisible() and bar_heights(bars) == [0.0] * len(DEFAULT_AUS)


def test_bed_view_has_no_au_bars_for_a_regressor(qtbot: QtBot, bed_view, model):
    monitor, view = bed_view(model("regressor"))
    bed = monitor.beds[0]
    qtbot.waitUntil(lambda: bed.latest is not None and np.isfinite(bed.score), timeout=WAIT_MS)
    assert monitor.model.au_thresholds == {} and bed.latest.aus is None
    assert not view.au_bars.isVisible() and view.curve.isVisible()


def test_replay_shows_the_aus_at_the_cursor_and_exports_them(qtbot: QtBot, clip: Path, model,
                                                             tmp_path: Path):
    view = show(qtbot, ReplayView(settings=AnalysisSettings(model("au"), backend="onnx"),
                                  record_path=tmp_path / "record.sqlite"), 1000, 800)
    with qtbot.waitSignal(view.loaded, timeout=ANALYSIS_TIMEOUT_MS):
        view.open_video(clip)
    table = view.record.table
    assert table.au_numbers == DEFAULT_AUS and table.aus.shape == (len(table), len(DEFAULT_AUS))
    assert view.au_bars.isVisible() and list(view.au_bars.thresholds) == list(DEFAULT_AUS)
    faces = np.flatnonzero(table.status == "ok")
    for index in (faces[-1], faces[0], faces[len(faces) // 2]):
        view.playback.seek(int(index))
        np.testing.assert_allclose(bar_heights(view.au_bars), table.aus[index], atol=1e-6)
        assert view.au_bars.values == table.aus_at(int(index))

    path = view.export_csv(tmp_path / "replay.csv")
    with path.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    people = ("seconds_since_start", "alarm", "annotation")  # a video's columns for people come first
    assert tuple(header) == (*people, *CSV_COLUMNS, *map(au_column, DEFAULT_AUS))
    first_au = len(people) + len(CSV_COLUMNS)
    np.testing.assert_allclose([[float(v) for v in rows[i][first_au:]] for i in faces],
                               table.aus[faces], atol=1e-4)

    view.set_settings(AnalysisSettings(model("regressor"), backend="onnx"))
    with qtbot.waitSignal(view.loaded, timeout=ANALYSIS_TIMEOUT_MS):
        view.open_video(clip)
    assert view.record.table.aus is None and not view.au_bars.isVisible()
    view.shutdown()
