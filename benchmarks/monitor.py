"""The live monitor under load: simulated beds in the real main window, 1, 4, 8, 12 and 16 of them.

    python benchmarks/monitor.py [--beds 1 4 8 12 16] [--minutes 1] [--sources rendered|recorded]

For each bed count in turn (beds are added to those already running) it measures, for `--minutes`:
- GUI event-loop latency: how late a 20 ms precise QTimer fires (p50/p95/max); the baseline, same run, is
  the window open with no beds;
- analysed frames per second per bed (scores and no-face frames the model worker delivered) and frames
  dropped by the capture slots (the model was busy; nothing queues without bound);
- resident memory of the process and its renderer of simulated patients (start and peak).
Goals on a 2-core PC: 16 beds at >= 10 fps each with GUI p95 < 50 ms; 8 beds at 15 fps with no drops.
`--sources rendered` (default) draws each simulated patient live, as the app does (in its renderer process,
engine.patient_process: about 3.5 ms of CPU a frame); `recorded` draws each patient once into a looping MP4
first, so a bed costs what a camera's decoded stream costs.
Runs offscreen unless QT_QPA_PLATFORM says otherwise, on a fresh data directory with the bundled demo model.
Other processes share the CPU: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROBE_MS = 20
BASELINE_S = 15.0
TARGET_P95_MS = 50.0


def rss_bytes() -> int:
    """Resident set size of this process and its children (the simulated patients' renderer), Linux /proc."""
    pids = ["self"] + [pid for task in Path("/proc/self/task").iterdir()
                       for pid in (task / "children").read_text().split()]
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except FileNotFoundError:  # a child that has just ended
            continue
    return total * os.sysconf("SC_PAGE_SIZE")


class LatencyProbe:
    """A precise timer that records how many milliseconds late each of its timeouts runs."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.late_ms: list[float] = []
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(PROBE_MS)
        self.timer.timeout.connect(self._fired)
        self.timer.start()

    def _fired(self) -> None:
        now = time.perf_counter()
        self.late_ms.append(max(0.0, (now - self._last) * 1000.0 - PROBE_MS))
        self._last = now

    def take(self) -> np.ndarray:
        """The lateness recorded since the last take, in ms."""
        late, self.late_ms = np.array(self.late_ms), []
        return late


def spin(seconds: float, every_s: float = 0.0, each: Callable[[], object] | None = None) -> None:
    """Run the Qt event loop for `seconds` (the GUI thread does nothing else); call `each()` periodically."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    if each is not None:
        ticker = QTimer()
        ticker.setInterval(int(every_s * 1000))
        ticker.timeout.connect(each)
        ticker.start()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def latency_line(label: str, late: np.ndarray) -> str:
    p50, p95 = np.percentile(late, [50, 95])
    return (f"{label:<28} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   max {late.max():7.1f} ms"
            f"   ({late.size} probes)")


def recorded_patient(seed: int, folder: Path, seconds: float = 20.0) -> Path:
    """The simulated patient of `seed` rendered once into an MP4 (the patient's own fps)."""
    import cv2

    from engine.simulated_patient import SimulatedPatient

    patient = SimulatedPatient(seed=seed)
    path = folder / f"patient-{seed}.mp4"
    first = patient.read()[2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), patient.fps, first.shape[1::-1])
    writer.write(first)
    for _ in range(int(seconds * patient.fps) - 1):
        writer.write(patient.read()[2])
    writer.release()
    return path


@dataclass
class Step:
    """The figures of one bed count."""

    beds: int
    seconds: float
    fps: list[float]
    captured: int
    dropped: int  # captured frames replaced before the model took them
    late: np.ndarray
    rss: list[int]

    def row(self) -> str:
        p50, p95 = np.percentile(self.late, [50, 95])
        start, peak = self.rss[0] / 1e6, max(self.rss) / 1e6
        share = 100 * self.dropped / max(self.captured, 1)
        return (f"{self.beds:>5}{min(self.fps):9.1f}{np.mean(self.fps):9.1f}"
                f"{self.dropped:>7} ({share:4.2f} %){p50:9.1f}{p95:9.1f}{self.late.max():9.0f}"
                f"{start:9.0f}{peak:9.0f}")


def measure(monitor: Any, probe: LatencyProbe, beds: int, minutes: float) -> Step:
    """Run the monitor's beds for `minutes` once they all score; their figures."""
    started = time.monotonic()
    while not all(len(bed.history) for bed in monitor.beds):
        spin(0.5)
        if time.monotonic() - started > 180:
            sys.exit("monitor benchmark: the beds delivered no scores within three minutes")
    spin(5.0)  # settle: the new beds' first full detections
    probe.take()
    start = [(len(bed.history), bed.captured, bed.dropped) for bed in monitor.beds]
    rss = [rss_bytes()]
    started = time.monotonic()
    spin(minutes * 60, every_s=5.0, each=lambda: rss.append(rss_bytes()))
    elapsed = time.monotonic() - started
    late = probe.take()
    fps, captured, dropped = [], 0, 0
    for bed, (frames0, captured0, dropped0) in zip(monitor.beds, start, strict=True):
        fps.append((len(bed.history) - frames0) / elapsed)
        captured += bed.captured - captured0
        dropped += bed.dropped - dropped0
    return Step(beds, elapsed, fps, captured, dropped, late, rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beds", type=int, nargs="+", default=[1, 4, 8, 12, 16],
                        help="bed counts, measured in turn (default 1 4 8 12 16)")
    parser.add_argument("--minutes", type=float, default=1.0, help="measured per bed count (default 1)")
    parser.add_argument("--sources", choices=("rendered", "recorded"), default="rendered")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    scratch = tempfile.TemporaryDirectory(prefix="painmon-bench-")
    os.environ["PAINMON_DATA_DIR"] = str(Path(scratch.name, "data"))
    os.environ.setdefault("PAINMON_CACHE_DIR", str(Path(scratch.name, "cache")))

    from PySide6.QtWidgets import QApplication

    from app.beds import BedConfig, Source, save_beds
    from app.main_window import MainWindow, dark_palette
    from app.monitor import Monitor

    def bed(i: int) -> BedConfig:
        if args.sources == "rendered":
            return BedConfig(f"Bed {i}", Source.simulated(seed=i))
        path = recorded_patient(i, Path(scratch.name))
        return BedConfig(f"Bed {i}", Source.file(path), loop_video=True)

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    save_beds([])  # start with an empty ward for the baseline
    window = MainWindow(Monitor())
    window.show()
    monitor = window.monitor
    while monitor.model is None:  # the model loads on the inference worker's thread
        spin(0.2)
    if monitor.model.error:
        sys.exit(f"monitor benchmark: no model: {monitor.model.error}")
    probe = LatencyProbe()
    print(f"baseline: the window with no beds for {BASELINE_S:.0f} s …", flush=True)
    spin(BASELINE_S)
    baseline = probe.take()
    steps = []
    for count in sorted(args.beds):
        for i in range(len(monitor.beds) + 1, count + 1):
            monitor.add_bed(bed(i))
        print(f"{count} beds ({args.sources} patients): measuring for {args.minutes:g} min …", flush=True)
        steps.append(measure(monitor, probe, count, args.minutes))
        print(steps[-1].row(), flush=True)
    load = os.getloadavg()
    window.close_without_asking()

    print(f"\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs "
          f"(shared with other processes); backend {monitor.model.backend} on {monitor.model.device}; "
          f"{args.sources} simulated patients; {args.minutes:g} min per bed count")
    print(latency_line("GUI latency, no beds", baseline))
    print(f"{'beds':>5}{'min fps':>9}{'mean fps':>9}{'dropped (share)':>17}{'p50 ms':>9}{'p95 ms':>9}"
          f"{'max ms':>9}{'RSS MB':>9}{'peak MB':>9}")
    for step in steps:
        print(step.row())
    for step in steps:
        p95 = float(np.percentile(step.late, 95))
        if step.beds == 16:
            met = min(step.fps) >= 10 and p95 < TARGET_P95_MS
            print(f"goal 16 beds >= 10 fps each, GUI p95 < 50 ms: {'met' if met else 'NOT met'}")
        if step.beds == 8:
            met = min(step.fps) >= 14.5 and step.dropped == 0
            print(f"goal 8 beds at 15 fps, no drops: {'met' if met else 'NOT met'}")
    scratch.cleanup()


if __name__ == "__main__":
    main()
