"""A small, axis-less trend of the last minutes of one bed's scores, with gaps as breaks."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from app.series import DEFAULT_MAX_GAP_S, with_gaps
from app.widgets.curve import CURVE_COLOUR, SCORE_RANGE


class Sparkline(pg.PlotWidget):
    """Scores of the last `span_s` seconds on a fixed 0–5 scale; not interactive."""

    def __init__(self, parent: QWidget | None = None, *, span_s: float = 300.0,
                 max_gap_s: float = DEFAULT_MAX_GAP_S, redraw_s: float = 1.0) -> None:
        """redraw_s: the trend is drawn again once its newest sample is this much newer than the drawn one
        (a 5-minute trend a few hundred pixels wide gains nothing from more; a ward of 16 beds at 15 fps
        would otherwise redraw 240 times a second)."""
        super().__init__(parent)
        self.span_s = span_s
        self.max_gap_s = max_gap_s
        self.redraw_s = redraw_s
        self._drawn = -np.inf  # time of the newest sample drawn
        item = self.getPlotItem()
        for axis in ("left", "bottom"):
            item.hideAxis(axis)
        item.hideButtons()
        item.setMenuEnabled(False)
        item.setClipToView(True)
        item.setDownsampling(auto=True, mode="peak")
        self.setMouseEnabled(x=False, y=False)
        self.setYRange(*SCORE_RANGE, padding=0.05)
        self.setMinimumHeight(40)
        self.curve = self.plot(pen=pg.mkPen(CURVE_COLOUR, width=1.5), connect="finite")

    def set_data(self, t: np.ndarray, score: np.ndarray) -> None:
        """Show the samples of the last `span_s` seconds before the newest one (redrawn when the newest is
        `redraw_s` newer than the one drawn, or older: a new history)."""
        t = np.asarray(t, dtype=np.float64)
        score = np.asarray(score, dtype=np.float64)
        if len(t) == 0:
            self._drawn = -np.inf
            self.curve.setData([], [])
            return
        if self._drawn <= t[-1] < self._drawn + self.redraw_s:
            return
        self._drawn = float(t[-1])
        start = t[-1] - self.span_s
        first = int(np.searchsorted(t, start))
        x, y = with_gaps(t[first:], score[first:], self.max_gap_s)
        self.curve.setData(x, y, connect="finite")
        self.setXRange(start, t[-1], padding=0)
