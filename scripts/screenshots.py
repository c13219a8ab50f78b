"""Screenshots of the real painmon window under Xvfb: the ward, one bed, and replay.

    python scripts/screenshots.py [--out docs/screenshots] [--warmup 45] [--au-model MODEL]

Starts its own Xvfb server unless DISPLAY is set (Debian: `apt-get install xvfb libxcb-cursor0 libxcb-icccm4
libxcb-keysyms1`, the last three for Qt's xcb platform plugin), runs the app on a fresh data
directory with the bundled demo model, three simulated-patient beds and a fourth watching a real person
(tests/data/clips/single_face.mp4 played back and forth: the demo model, trained on rendered faces, does not
apply to him), and saves ward.png, bed.png and replay.png (replay of a recording of the simulated patient once
its analysis is done). With --au-model, the monitor then switches to that model (one with AUs) and saves
bed_aus.png: the bed view with its AU bars.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's app, not an installed copy
CLIP = ROOT / "tests" / "data" / "clips" / "single_face.mp4"
REAL_FACE_S = 180.0  # how long the real person's bed has video: longer than the screenshots take
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


def real_face_frames(seconds: float) -> Iterator[np.ndarray]:
    """The real face clip played forwards and backwards for `seconds` (at its own frame rate)."""
    capture = cv2.VideoCapture(str(CLIP))
    fps = capture.get(cv2.CAP_PROP_FPS)
    clip = []
    while (frame := capture.read()[1]) is not None:
        clip.append(frame)
    capture.release()
    yield from itertools.islice(itertools.cycle(clip + clip[-2:0:-1]), int(seconds * fps))


def shoot(out: Path, scratch: Path, warmup_s: float, au_model: Path | None) -> None:
    """Run the app, drive it to each view and save the screenshots."""
    import dataclasses

    from PySide6.QtWidgets import QApplication

    from app.alarms import AlarmConfig
    from app.beds import BedConfig, Source, save_beds
    from app.main_window import MainWindow, dark_palette
    from app.monitor import Monitor
    from engine.simulated_patient import SimulatedPatient

    fps = cv2.VideoCapture(str(CLIP)).get(cv2.CAP_PROP_FPS)
    real = write_video(scratch / "real_face.mp4", real_face_frames(REAL_FACE_S), fps)
    patient = SimulatedPatient(seed=5, fps=15.0, size=(640, 360))
    recording = write_video(scratch / "simulated_patient.mp4", (f.image for f in patient.frames(450)), 15.0)
    simulated = [BedConfig(f"Bed {i}", Source.simulated(seed=i), patient=f"Patient {i}") for i in range(1, 4)]
    save_beds([*simulated, BedConfig("Bed 4", Source.file(real), patient="Patient 4",
                                     alarms=AlarmConfig(not_applicable_delay_s=10.0))])
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("painmon")
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    window = MainWindow(Monitor())
    window.show()
    window.move(0, 0)
    beds = window.monitor.beds
    if not spin(120, lambda: all(len(bed.history) > 0 for bed in beds)):
        sys.exit("screenshots: the simulated beds sent no scores within two minutes")
    spin(warmup_s)  # let the sparklines and curves grow
    out.mkdir(parents=True, exist_ok=True)
    take(window, out / "ward.png")

    window.open_bed(beds[0].bed_id)
    spin(3)
    take(window, out / "bed.png")

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

    if au_model is not None:
        window.monitor.apply_settings(dataclasses.replace(window.monitor.settings, model_path=str(au_model)))
        window.open_bed(beds[0].bed_id)
        if not spin(120, lambda: window.bed_view.au_bars.values is not None):
            sys.exit(f"screenshots: no AU bars within two minutes of switching to {au_model}")
        spin(warmup_s / 3)
        take(window, out / "bed_aus.png")
    window.close_without_asking()


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
