"""Screenshots of the real painmon window under Xvfb: the ward, one bed, replay, the alarm log, 16 beds.

    python scripts/screenshots.py [--out docs/screenshots] [--warmup 45] [--au-model MODEL]

Starts its own Xvfb server unless DISPLAY is set (Debian: `apt-get install xvfb libxcb-cursor0 libxcb-icccm4
libxcb-keysyms1`, the last three for Qt's xcb platform plugin), runs the app on a fresh data
directory with the bundled demo model, three simulated-patient beds (bed 1 recording video) and a fourth
watching a real person (tests/data/clips/single_face.mp4 in a loop: the demo model, trained on rendered faces,
does not apply to him), and saves ward.png, bed.png, replay.png (a recording of a simulated patient once its
analysis is done), session_replay.png (bed 1's session with its recorded video), alarm_log.png, then
closes and starts the app again for bed_stay.png (bed 1's stay across the restart) and ward_16.png (twelve
more beds, 16 at 1280×720, one in pain alarm). With --au-model, the monitor switches
to that model (one with AUs) before the last and saves bed_aus.png: the bed view with its AU bars.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

    from app.main_window import MainWindow

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's app, not an installed copy
CLIP = ROOT / "tests" / "data" / "clips" / "single_face.mp4"
SCREEN = "1280x860x24"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


@contextlib.contextmanager
def virtual_display() -> Iterator[None]:
    """Run an Xvfb server for the duration (none when DISPLAY is already set) and point Qt at it."""
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    if os.environ.get("DISPLAY"):
        yield
        return
    read_end, write_end = os.pipe()
    command = ["Xvfb", "-displayfd", str(write_end), "-screen", "0", SCREEN, "-nolisten", "tcp"]
    server = subprocess.Popen(command, pass_fds=(write_end,), stderr=subprocess.DEVNULL,
                              preexec_fn=_die_with_parent)  # noqa: PLW1509 (no threads yet)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        number = pipe.readline().strip()
    if not number:
        server.kill()
        sys.exit("screenshots: Xvfb did not start (apt-get install xvfb)")
    os.environ["DISPLAY"] = f":{number}"
    try:
        yield
    finally:
        server.terminate()
        server.wait()


def _die_with_parent() -> None:
    """In the Xvfb child: end when this script ends, also when Qt aborts it (no `finally` runs then)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spin(seconds: float, until: Callable[[], bool] = lambda: False) -> bool:
    """Run the Qt event loop for up to `seconds`, returning early (True) once `until()` holds."""
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        QApplication.processEvents()
        if until():
            return True
        time.sleep(0.01)
    return until()


def take(window: QWidget, path: Path) -> None:
    """Save what the X server shows of the window as a PNG."""
    spin(0.5)
    pixmap = window.screen().grabWindow(window.winId())
    if not pixmap.save(str(path)):
        sys.exit(f"screenshots: could not write {path}")
    print(f"{path} ({pixmap.width()}×{pixmap.height()}, {path.stat().st_size // 1024} KiB)")


def write_video(path: Path, frames: Iterator[np.ndarray], fps: float) -> Path:
    """Write BGR frames as an MP4 file."""
    first = next(frames)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, first.shape[1::-1])
    for frame in itertools.chain([first], frames):
        writer.write(frame)
    writer.release()
    return path


def shoot(out: Path, scratch: Path, warmup_s: float, au_model: Path | None) -> None:
    """Run the app, drive it to each view and save the screenshots."""
    from PySide6.QtWidgets import QApplication

    from app.alarms import AlarmConfig
    from app.beds import BedConfig, Source, save_beds
    from app.main_window import MainWindow, dark_palette
    from app.monitor import Monitor

    simulated = [BedConfig(f"Bed {i}", Source.simulated(seed=i), patient=f"Patient {i}", record_video=i == 1)
                 for i in range(1, 4)]
    save_beds([*simulated, BedConfig("Bed 4", Source.file(CLIP), patient="Patient 4", loop_video=True,
                                     alarms=AlarmConfig(not_applicable_delay_s=10.0))])
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("painmon")
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    window = MainWindow(Monitor())
    window.show()
    window.move(0, 0)
    try:
        beds = window.monitor.beds
        if not spin(120, lambda: all(len(bed.history) > 0 for bed in beds)):
            sys.exit("screenshots: the simulated beds sent no scores within two minutes")
        spin(warmup_s)  # let the sparklines and curves grow
        out.mkdir(parents=True, exist_ok=True)
        take(window, out / "ward.png")
        window.open_bed(beds[0].bed_id)
        spin(3)
        take(window, out / "bed.png")
        shoot_replays(window, out, scratch)
        if au_model is not None:
            shoot_au_bars(window, out, au_model, warmup_s)
        window.close_without_asking()
        spin(20)  # the patients' stays go on without a score while the app is closed: a break in the curve
        window = MainWindow(Monitor())  # the app started again: each bed continues its patient's stay
        window.show()
        window.move(0, 0)
        window.open_bed(window.monitor.beds[0].bed_id)
        spin(warmup_s / 2)
        take(window, out / "bed_stay.png")
        shoot_central_station(window, out)
    finally:  # also on a failure: the beds' threads stop before the scratch folder goes
        window.close_without_asking()


def shoot_replays(window: MainWindow, out: Path, scratch: Path) -> None:
    """replay.png: a rendered patient's video analysed and replayed; session_replay.png: bed 1's session
    with its recorded video; alarm_log.png: the alarm history."""
    from engine.simulated_patient import SimulatedPatient

    patient = SimulatedPatient(seed=5, fps=15.0, size=(640, 360))
    recording = write_video(scratch / "simulated_patient.mp4", (f.image for f in patient.frames(450)), 15.0)
    outcome: list[object] = []  # the loaded record, or the failure message
    window.replay.loaded.connect(outcome.append)
    window.replay.failed.connect(outcome.append)
    window.tabs.setCurrentWidget(window.replay)
    window.replay.open_video(recording)
    if not spin(300, lambda: bool(outcome)):
        sys.exit("screenshots: the replay analysis did not finish within five minutes")
    if isinstance(outcome[0], str):
        sys.exit(f"screenshots: replay analysis failed: {outcome[0]}")
    window.replay.playback.seek(window.replay.playback.count // 2)
    take(window, out / "replay.png")

    recorded = window.monitor.beds[0]
    window.monitor.record.flush()
    outcome.clear()
    window.replay.open_session(recorded.session_id or 0)
    if not spin(30, lambda: bool(outcome)) or isinstance(outcome[0], str):
        sys.exit(f"screenshots: the recorded session did not open: {outcome}")
    window.replay.playback.seek(window.replay.playback.count - 30)
    take(window, out / "session_replay.png")
    window.tabs.setCurrentWidget(window.alarm_log)
    take(window, out / "alarm_log.png")


def shoot_au_bars(window: MainWindow, out: Path, au_model: Path, warmup_s: float) -> None:
    """bed_aus.png: the bed view with the AU bars of a model with AUs."""
    monitor = window.monitor
    monitor.apply_settings(dataclasses.replace(monitor.settings, model_path=str(au_model)))
    window.open_bed(monitor.beds[0].bed_id)
    if not spin(120, lambda: window.bed_view.au_bars.values is not None):
        sys.exit(f"screenshots: no AU bars within two minutes of switching to {au_model}")
    spin(warmup_s / 3)
    take(window, out / "bed_aus.png")


def shoot_central_station(window: MainWindow, out: Path) -> None:
    """ward_16.png: sixteen beds at 1280×720, one of them (bed 5, a low alarm limit) in pain alarm."""
    from app.alarms import AlarmConfig, AlarmKind
    from app.beds import BedConfig, Source

    monitor = window.monitor
    for i in range(5, 17):
        alarms = AlarmConfig(threshold=1.0, delay_s=0.0) if i == 5 else AlarmConfig()
        monitor.add_bed(BedConfig(f"Bed {i}", Source.simulated(seed=i), patient=f"P-{i}", alarms=alarms))
    window.resize(1280, 720)
    window.tabs.setCurrentWidget(window.ward)
    alarming = monitor.beds[4]
    if not spin(300, lambda: alarming.alarms.has(AlarmKind.PAIN)):
        sys.exit("screenshots: bed 5 raised no pain alarm within five minutes")
    spin(5)
    take(window, out / "ward_16.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--warmup", type=float, default=45.0, metavar="SECONDS",
                        help="how long the beds run before the ward screenshot")
    parser.add_argument("--au-model", type=Path, metavar="MODEL",
                        help="a checkpoint with AUs for bed_aus.png (the bed view with AU bars)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="painmon-screenshots-") as scratch, virtual_display():
        os.environ["PAINMON_DATA_DIR"] = str(Path(scratch, "data"))  # a fresh ward, not the user's
        os.environ.setdefault("PAINMON_CACHE_DIR", str(Path(scratch, "cache")))
        shoot(args.out.resolve(), Path(scratch), args.warmup, args.au_model and args.au_model.resolve())


if __name__ == "__main__":
    main()
