"""A long stay on one bed: does the display get slower or bigger as the stay grows?

    python benchmarks/long_stay.py [--hours 2] [--fps 15]

Feeds a bed's live pain curve (as the Bed tab shows it, following its 5-minute window) and its ward tile
(sparkline) with `--hours` of samples at `--fps`, display tick by display tick (4 per second) in accelerated
time, through the real widgets (offscreen), and measures the cost of one display tick (new samples, redraw,
paint) in the first and the last ten minutes of the stay, and the process's memory (RSS) at both ends. The
baseline, in the same run: the curve as it was, with every tick marking the gaps of the whole stay and handing
all of it to the plot.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TICK_S = 0.25
MEASURED_S = 600.0
T0 = 1_750_000_000.0


def rss_mb() -> float:
    """This process's resident set size in MB (Linux /proc)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def stay(hours: float, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Sample times and scores of a stay: pain episodes, short stretches without a face, a minute without
    frames every half hour."""
    t = T0 + np.arange(int(hours * 3600 * fps)) / fps
    t[t - T0 > 1800] += 60.0 * ((t[t - T0 > 1800] - T0) // 1800)
    score = 1.5 + 1.5 * np.sin((t - T0) / 300.0) ** 2
    score[(np.arange(len(t)) // int(20 * fps)) % 15 == 0] = np.nan
    return t, score


def ticks(t: np.ndarray, first: int, last: int, fps: float, each: Callable[[int, int], None]) -> np.ndarray:
    """Call each(start, stop) for every display tick's samples in [first, last); return each tick's ms."""
    per = max(1, round(fps * TICK_S))
    costs = []
    for start in range(first, last, per):
        began = time.perf_counter()
        each(start, min(start + per, last))
        costs.append(time.perf_counter() - began)
    return 1000.0 * np.array(costs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=2.0, help="length of the stay (default 2)")
    parser.add_argument("--fps", type=float, default=15.0, help="analysed frames per second (default 15)")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from app.series import with_gaps
    from app.widgets.curve import PainCurve
    from app.widgets.tile import BedTile

    app = QApplication.instance() or QApplication(sys.argv[:1])
    t, score = stay(args.hours, args.fps)
    tail = len(t) - int(MEASURED_S * args.fps)
    curve, tile = PainCurve(live=True), BedTile("0123456789ab", "Bed 1")
    former = PainCurve()
    for widget, width, height in ((curve, 1200, 400), (tile, 400, 250), (former, 1200, 400)):
        widget.resize(width, height)
        widget.show()

    def now(start: int, stop: int) -> None:  # what a display tick does for the bed
        curve.append(t[start:stop], score[start:stop])
        tile.set_history(t[:stop], score[:stop])
        app.processEvents()

    def as_it_was(start: int, stop: int) -> None:  # every tick: the whole stay's gaps, all of it to the plot
        former.series.extend(t[start:stop], score[start:stop])
        former.curve.setData(*with_gaps(former.series.t, former.series.score), connect="finite")
        former.view_box.setXRange(float(t[stop - 1]) - 300.0, float(t[stop - 1]), padding=0)
        tile.set_history(t[:stop], score[:stop])
        app.processEvents()

    memory = [rss_mb()]
    head = int(MEASURED_S * args.fps)
    begin = ticks(t, 0, head, args.fps, now)
    former_begin = ticks(t, 0, head, args.fps, as_it_was)
    curve.append(t[head:tail], score[head:tail])  # the hours between, at once
    former.series.extend(t[head:tail], score[head:tail])
    end = ticks(t, tail, len(t), args.fps, now)
    former_end = ticks(t, tail, len(t), args.fps, as_it_was)
    memory.append(rss_mb())

    print(f"a stay of {args.hours:g} h at {args.fps:g} fps: {len(t)} samples, a display tick every "
          f"{TICK_S} s; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for label, first, last in (("now", begin, end), ("as it was (baseline)", former_begin, former_end)):
        print(f"{label:<22} per tick: first 10 min median {np.median(first):5.2f} ms "
              f"(p95 {np.percentile(first, 95):5.2f}); last 10 min median {np.median(last):5.2f} ms "
              f"(p95 {np.percentile(last, 95):5.2f}); end / start {np.median(last) / np.median(first):.2f}×")
    print(f"at the end of the stay a tick costs {np.median(end) / np.median(former_end):.2f}× the baseline's")
    print(f"memory (RSS) {memory[0]:.0f} MB at the start, {memory[1]:.0f} MB at the end "
          f"(both curves hold the stay: {2 * 2 * 8 * len(t) / 1e6:.1f} MB of samples)")


if __name__ == "__main__":
    main()
