"""Builders shared by tests in several folders: the `painmon` command, real frames, random-weight models,
killed training runs, shown widgets, answered message boxes and recorded sessions. Fixtures live in the
conftest.py files."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import cv2
import hypothesis
import numpy as np
import onnx
import torch
from hypothesis import strategies
from hypothesis.strategies import SearchStrategy
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torchvision.ops import box_iou

from engine.au import AUPainModel
from engine.checkpoint import card_for, save_checkpoint
from engine.model import PainRegressor
from engine.model_card import CARD_KEY

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from app.widgets.curve import PainCurve

ROOT = Path(__file__).resolve().parent.parent
"""The repository root."""
CLIPS = ROOT / "tests" / "data" / "clips"
"""Real face clips (FACTS.md §2), fetched by `make clips`."""
T0 = 1_750_000_000.0
"""Start of the recorded sessions tests write (Unix time)."""
CLIP_FRAMES = 20
"""Frames of the short real clip replay tests analyse (tests/app/conftest.py `clip`)."""
ANALYSIS_TIMEOUT_MS = 300_000
"""Longest wait for replay's analysis of a 20-frame clip (5–30 s on the shared 2-core machine)."""
LIVE_TIMEOUT_MS = 60_000
"""Longest wait for the live monitor (generous: the test machine's two cores are shared)."""


# -- the command ----------------------------------------------------------------------------------------
def painmon_command(*args: object) -> list[str]:
    """The command line of `painmon ARGS`, running this checkout's code."""
    return [sys.executable, "-m", "app", *map(str, args)]


def run_painmon(*args: object, timeout: float = 600, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run `painmon ARGS` in a subprocess from the repository root, as a user's shell would; text output."""
    return subprocess.run(painmon_command(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          **kwargs)


# -- property-based tests ------------------------------------------------------------------------------
def examples(count: int) -> hypothesis.settings:
    """Hypothesis settings of a property test: `count` generated inputs, no time limit per input (files are
    written and read), no example database written into the checkout, and one tmp_path for all its inputs
    (each writes its file afresh)."""
    return hypothesis.settings(max_examples=count, deadline=None, database=None,
                               suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])


def mostly(good: SearchStrategy[Any], bad: SearchStrategy[Any], one_in: int = 20) -> SearchStrategy[Any]:
    """Values of `good`, and of `bad` once in `one_in` draws: inputs that are mostly well-formed, so that a
    property reaches past the first check."""
    return strategies.integers(1, one_in).flatmap(lambda draw: bad if draw == 1 else good)


# -- frames and faces -----------------------------------------------------------------------------------
def read_frames(path: Path, count: int, step: int = 1) -> list[np.ndarray]:
    """Read `count` BGR frames from a video, taking every `step`-th frame."""
    cap = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    index = 0
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        if index % step == 0:
            frames.append(frame)
        index += 1
    cap.release()
    return frames


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes."""
    return float(box_iou(torch.from_numpy(a[None]), torch.from_numpy(b[None]))[0, 0])


# -- models ---------------------------------------------------------------------------------------------
def save_random_checkpoint(path: Path, seed: int = 0) -> Path:
    """Write a checkpoint of the small CPU backbone with random weights drawn with `seed`."""
    torch.manual_seed(seed)
    model = PainRegressor("face_cnn_small", pretrained=None).eval()
    card = card_for(model, name="test-random", version="0", trained_on="random weights")
    return save_checkpoint(path, model, card)


def tampered_checkpoint(source: Path, target: Path, card: dict[str, Any] | None = None,
                        tensors: Callable[[dict[str, torch.Tensor]], None] | None = None) -> Path:
    """A copy of a checkpoint with fields of its card replaced by `card` and its tensors changed in place by
    `tensors`, written straight with safetensors as an outsider's tool would (painmon checks nothing)."""
    with safe_open(source, framework="pt") as handle:
        metadata = handle.metadata()
    weights = load_file(source)
    if tensors is not None:
        tensors(weights)
    fields = {**json.loads(metadata[CARD_KEY]), **(card or {})}
    save_file(weights, target, metadata={**metadata, CARD_KEY: json.dumps(fields)})
    return target


def calibrate_batch_norm(model: torch.nn.Module, faces: torch.Tensor) -> None:
    """Set every batch-norm layer's statistics from one pass over real faces (float32 N×3×h×w, 0..255), so a
    random-weight model's outputs differ between faces (untrained statistics give every face the same)."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the one calibration pass
    with torch.no_grad():
        model.train()(faces)
    model.eval()


def save_random_au_checkpoint(path: Path, faces: torch.Tensor | None = None) -> Path:
    """Write an AU ensemble of two small CPU backbones with random (seeded) weights and AU thresholds spread
    over 0.3–0.7; with real `faces` (float32 N×3×112×96, 0..255) its batch-norm statistics come from them."""
    torch.manual_seed(0)
    model = AUPainModel([("face_cnn_small", None), ("face_cnn_small", None)]).eval()
    model.thresholds.copy_(torch.linspace(0.3, 0.7, len(model.aus)))
    if faces is not None:
        calibrate_batch_norm(model, faces)
    card = card_for(model, name="test-random-au", version="0", trained_on="random weights")
    return save_checkpoint(path, model, card)


def onnx_types(model: onnx.ModelProto) -> dict[str, int]:
    """The element type of every value and initializer of an ONNX graph, by name."""
    graph = onnx.shape_inference.infer_shapes(model).graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.value_info, *graph.input, *graph.output]}
    types.update({t.name: t.data_type for t in graph.initializer})
    return types


def network_reachable() -> bool:
    """True when GitHub (where pretrained face-net weights download from) resolves."""
    try:
        socket.getaddrinfo("github.com", 443)
    except OSError:
        return False
    return True


# -- killed training runs -------------------------------------------------------------------------------
class KilledError(Exception):
    """Stands in for a kill mid-training: raised by a `killed_after` image reader."""


Reader = Callable[[np.ndarray], np.ndarray]


def killed_after(reader: Reader, reads: int) -> Reader:
    """An image reader that serves `reads` calls of `reader`, then raises KilledError (a kill mid-run)."""
    calls = 0

    def read(rows: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls > reads:
            raise KilledError
        return reader(rows)

    return read


# -- training runs: tiny configs, folds that fail ------------------------------------------------------
TINY_RECIPE = """\
name = "{name}"
[model]
backbone = "face_cnn_small"
input_size = [56, 48]
[loss]
regression = "{regression}"
regularizer = "center"
[sampling]
eliminate_redundant = true
uniform_classes = true
[solver]
lr = 0.01
batch_size = 16
iterations = 40
snapshot_every = 2
"""


def tiny_config(folder: Path, *, name: str = "tiny test recipe", regression: str = "smooth_l1") -> Path:
    """A regression config for the tiny twin (the small CNN at 56×48, 40 iterations) written into `folder`."""
    path = folder / f"{name.replace(' ', '_')}.toml"
    path.write_text(TINY_RECIPE.format(name=name, regression=regression))
    return path


@dataclass(frozen=True)
class FailingFaces:
    """Aligned faces (train.fold.Aligned) on which the fold holding out the subject of `rows` fails wherever
    it runs, on every attempt: asking for the landmarks of a training set without those rows raises."""

    inner: Any
    rows: np.ndarray
    error: type[Exception] = RuntimeError
    MESSAGE: ClassVar[str] = "a fold that always fails (test)"

    @property
    def found(self) -> np.ndarray:
        return np.asarray(self.inner.found)

    @property
    def landmarks(self) -> np.ndarray:
        return np.asarray(self.inner.landmarks)

    @property
    def crop_size(self) -> tuple[int, int]:
        return tuple(self.inner.crop_size)  # type: ignore[return-value]

    def crops(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.inner.crops(rows))

    def crop_landmarks(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) and not np.isin(rows, self.rows).any():
            raise self.error(self.MESSAGE)
        return np.asarray(self.inner.crop_landmarks(rows))


# -- widgets, documents, records ------------------------------------------------------------------------
def show(qtbot: QtBot, widget: Any, width: int, height: int) -> Any:
    """Show a real widget at a fixed size (offscreen), wait until it is exposed, and return it."""
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def answer_message_box(button: str) -> list[str]:
    """Answer the next message box with its `button` ("Yes" or "Cancel") once it shows: a timer polls for it,
    so that the code under test may wait in its `exec()`. The list returned gets the box's question and
    consequences, once answered."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    seen: list[str] = []
    timer = QTimer(QApplication.instance())  # owned by the app: it lives until it has answered

    def answer() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            timer.stop()
            timer.deleteLater()
            seen.extend([box.text(), box.informativeText()])
            box.button(getattr(QMessageBox.StandardButton, button)).click()

    timer.timeout.connect(answer)
    timer.start(20)
    return seen


def click_at(qtbot: QtBot, curve: PainCurve, t: float, score: float = 2.5, button: Any = None) -> None:
    """Click a pain curve at time t and score (left button unless another is given)."""
    from PySide6.QtCore import QPointF, Qt

    scene = curve.view_box.mapViewToScene(QPointF(t, score))
    qtbot.mouseClick(curve.plot.viewport(), button or Qt.MouseButton.LeftButton,
                     pos=curve.plot.mapFromScene(scene))


def pdf_text(path: Path) -> tuple[int, str]:
    """Page count and the text of all pages, read back by Qt's PDF engine."""
    from PySide6.QtPdf import QPdfDocument

    document = QPdfDocument(None)
    assert document.load(str(path)) == QPdfDocument.Error.None_
    text = "\n".join(document.getAllText(page).text() for page in range(document.pageCount()))
    return document.pageCount(), " ".join(text.split())


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in: a read-only folder under tmp_path, or /sys (which
    refuses new files to root too) where permissions do not bind (running as root)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    probe = folder / "probe"
    try:
        probe.touch()
    except PermissionError:
        return folder
    probe.unlink()
    return Path("/sys")


def write_session(path: Path) -> int:
    """A real record: 4 minutes at 2 Hz with a no-face stretch, a pain episode and two annotations."""
    from app.alarms import AlarmConfig, BedAlarms
    from app.record import AnnotationKind
    from app.record_writer import RecordWriter
    from engine.status import FrameStatus

    t = T0 + np.arange(0.0, 240.0, 0.5)
    score = np.where((t - T0 > 60) & (t - T0 < 100), 4.0, 1.0)
    score[(t - T0 > 150) & (t - T0 < 160)] = np.nan
    alarms = BedAlarms(AlarmConfig(threshold=3.0, delay_s=10.0), bed="bed-3")
    with RecordWriter(path) as writer:
        session = writer.start_session("bed-3", "Bed 3", source="camera 0", started_at=T0, patient="P-0042",
                                       model="demo-regressor 1.2")
        for ti, si in zip(t, score, strict=True):
            writer.add_sample(session, ti, si, FrameStatus.OK if np.isfinite(si) else FrameStatus.NO_FACE)
            for event in alarms.update(ti, si):
                writer.add_alarm_event(session, event)
            if ti == T0 + 120:
                for event in alarms.acknowledge(ti):
                    writer.add_alarm_event(session, event)
        writer.add_annotation(session, T0 + 90, AnnotationKind.ANALGESIC)
        writer.add_annotation(session, T0 + 200, AnnotationKind.NOTE, "patient asleep")
        writer.end_session(session, T0 + 240)
    return session


def recorded_samples() -> int:
    """Samples in the data folder's record so far, over all sessions (0 before it exists)."""
    from app.record import RecordError, RecordReader, record_path

    try:
        with RecordReader(record_path()) as reader:
            return sum(len(reader.samples(s.id)) for s in reader.sessions())
    except RecordError:  # not created yet
        return 0


BEFORE_ALARM_LIMITS = "ALTER TABLE sessions DROP COLUMN alarm_limit; "
"""SQL that takes a record back to what painmon wrote before schema 5 (no session alarm limits)."""
BEFORE_STAYS = (BEFORE_ALARM_LIMITS
                + "DROP INDEX sessions_by_stay; ALTER TABLE sessions DROP COLUMN stay_id; DROP TABLE stays; ")
"""SQL that takes a record back to what painmon wrote before schema 4 (no stays)."""


def write_stay(path: Path) -> tuple[int, list[int]]:
    """A real record of a discharged stay of P-0042 in Bed 3 over two sessions (a restart between them):
    pain 4 until an analgesic at 20 min, 3 until the restart at 25 min, 1.5 from 30 to 80 min, a note at
    50 min; and a session of the bed before the admission, part of no stay. Samples every 2 s."""
    from app.alarms import AlarmConfig, BedAlarms
    from app.record import AnnotationKind
    from app.record_writer import RecordWriter
    from engine.status import FrameStatus

    with RecordWriter(path) as writer:
        before = writer.start_session("bed-3", "Bed 3", source="camera 0", started_at=T0 - 600)
        writer.add_sample(before, T0 - 590, 2.0, FrameStatus.OK)
        writer.end_session(before, T0 - 300)
        stay = writer.admit("bed-3", "Bed 3", patient="P-0042", admitted_at=T0)
        sessions = []
        for start, end in ((0, 1500), (1800, 4800)):
            session = writer.start_session("bed-3", "Bed 3", source="camera 0", started_at=T0 + start,
                                           patient="P-0042", model="demo-regressor 1.2", stay_id=stay)
            alarms = BedAlarms(AlarmConfig(threshold=3.5, delay_s=10.0), bed="Bed 3")
            for t in T0 + np.arange(start, end, 2.0):
                score = 4.0 if t < T0 + 1200 else 3.0 if t < T0 + 1500 else 1.5
                writer.add_sample(session, t, score, FrameStatus.OK)
                for event in alarms.update(t, score):
                    writer.add_alarm_event(session, event)
            writer.end_session(session, T0 + end)
            sessions.append(session)
        writer.add_annotation(sessions[0], T0 + 1200, AnnotationKind.ANALGESIC, "morphine 2 mg")
        writer.add_annotation(sessions[1], T0 + 3000, AnnotationKind.NOTE, "asleep")
        writer.discharge(stay, T0 + 5000)
    return stay, sessions


def run_until_recorded(app: subprocess.Popen[bytes], samples: int) -> None:
    """Wait until the running app has recorded `samples` samples; fails if it exits first."""
    deadline = time.monotonic() + 120
    while app.poll() is None and recorded_samples() < samples and time.monotonic() < deadline:
        time.sleep(0.2)
    assert app.poll() is None, f"painmon exited with {app.returncode}"
    assert recorded_samples() >= samples
