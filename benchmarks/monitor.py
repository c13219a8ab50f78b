"""The live monitor under load: four simulated beds in the real main window for a number of minutes.

    python benchmarks/monitor.py [--minutes 10] [--beds 4]

Measures, against the targets of the bedside monitor:
- GUI event-loop latency: how late a 20 ms precise QTimer fires (p50/p95/max), first with the window open and
  no beds (the baseline, same run), then with the beds running — target p95 < 50 ms;
- analysed frames per second per bed (scores and no-face frames the model worker delivered) — target ≥ 8;
- frames dropped by the capture slots (the model was busy; nothing queues without bound);
- the process's resident memory over the run (start, peak, end) — target < 2 GB.
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
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROBE_MS = 20
BASELINE_S = 15.0
TARGET_P95_MS = 50.0
TARGET_FPS = 8.0
TARGET_RSS_GB = 2.0


def rss_bytes() -> int:
    """This process's resident set size (Linux /proc)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the beds run (default 10)")
    parser.add_argument("--beds", type=int, default=4, help="simulated beds (default 4)")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    scratch = tempfile.TemporaryDirectory(prefix="painmon-bench-")
    os.environ["PAINMON_DATA_DIR"] = str(Path(scratch.name, "data"))
    os.environ.setdefault("PAINMON_CACHE_DIR", str(Path(scratch.name, "cache")))

    from PySide6.QtWidgets import QApplication

    from app.beds import BedConfig, Source, save_beds
    from app.main_window import MainWindow, dark_palette
    from app.monitor import Monitor

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

    for i in range(1, args.beds + 1):
        monitor.add_bed(BedConfig(f"Bed {i}", Source.simulated(seed=i)))
    started = time.monotonic()
    while not all(len(bed.history) for bed in monitor.beds):
        spin(0.5)
        if time.monotonic() - started > 180:
            sys.exit("monitor benchmark: the beds delivered no scores within three minutes")
    print(f"{args.beds} beds scoring after {time.monotonic() - started:.1f} s; "
          f"measuring for {args.minutes:g} min …", flush=True)
    probe.take()
    beds = monitor.beds
    start_counts = [(len(bed.history), int(np.isfinite(bed.history.score).sum()), bed.captured, bed.dropped)
                    for bed in beds]
    rss = [rss_bytes()]
    started = time.monotonic()
    spin(args.minutes * 60, every_s=5.0, each=lambda: rss.append(rss_bytes()))
    elapsed = time.monotonic() - started
    rss.append(rss_bytes())
    loaded = probe.take()
    load = os.getloadavg()
    window.close_without_asking()

    print(f"\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs "
          f"(shared with other processes); {elapsed / 60:.1f} min measured; backend "
          f"{monitor.model.backend} on {monitor.model.device}")
    print(latency_line("GUI latency, no beds", baseline))
    print(latency_line(f"GUI latency, {args.beds} beds", loaded))
    p95 = float(np.percentile(loaded, 95))
    ratio = p95 / max(float(np.percentile(baseline, 95)), 0.1)
    print(f"  p95 {p95:.1f} ms = {ratio:.1f}× the baseline; target < {TARGET_P95_MS:.0f} ms: "
          f"{'met' if p95 < TARGET_P95_MS else 'NOT met'}")
    fps_all = []
    for bed, (frames0, scored0, captured0, dropped0) in zip(beds, start_counts, strict=True):
        frames = len(bed.history) - frames0
        scored = int(np.isfinite(bed.history.score).sum()) - scored0
        captured, dropped = bed.captured - captured0, bed.dropped - dropped0
        fps = frames / elapsed
        fps_all.append(fps)
        print(f"{bed.config.name:<8} analysed {fps:5.1f} fps ({frames} frames, {scored} scored); "
              f"captured {captured}, dropped {dropped} ({100 * dropped / max(captured, 1):.0f}%)")
    print(f"  slowest bed {min(fps_all):.1f} fps; target ≥ {TARGET_FPS:g}: "
          f"{'met' if min(fps_all) >= TARGET_FPS else 'NOT met'}")
    gb = np.array(rss) / 1e9
    print(f"memory (RSS) start {gb[0]:.2f} GB, peak {gb.max():.2f} GB, end {gb[-1]:.2f} GB; "
          f"target < {TARGET_RSS_GB:g} GB: {'met' if gb.max() < TARGET_RSS_GB else 'NOT met'}")
    scratch.cleanup()


if __name__ == "__main__":
    main()
