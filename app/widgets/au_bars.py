"""Facial action units of one frame as bars: each AU's probability, its presence threshold marked across the
bar, present AUs (probability at or above the threshold) highlighted. Hidden for a model without AUs."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from app.widgets.curve import CURVE_COLOUR

PRESENT_COLOUR = CURVE_COLOUR
ABSENT_COLOUR = "#546e7a"
THRESHOLD_COLOUR = "#ffffff"
BAR_WIDTH = 0.7
BAR_SPACING = 34  # pixels per AU
AXIS_WIDTH = 60  # pixels beside the bars: the probability axis and margins
MIN_WIDTH = 200


class AUBars(pg.PlotWidget):
    """Bars labelled AU4, AU6, … on a fixed 0–1 scale; not interactive.

    `set_thresholds({au: threshold})` names the model's AUs in order (empty: the model has none, and the
    widget hides itself); `set_values({au: probability})` shows one frame's, None empties the bars (no face).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        item = self.getPlotItem()
        item.hideButtons()
        item.setMenuEnabled(False)
        item.setTitle("Action units")
        item.getAxis("left").setTicks([[(0.0, "0"), (0.5, "0.5"), (1.0, "1")]])
        self.setMouseEnabled(x=False, y=False)
        self.setYRange(0.0, 1.0, padding=0.05)
        self.thresholds: dict[int, float] = {}
        self.values: dict[int, float] | None = None
        self.bars = pg.BarGraphItem(x=[], height=[], width=BAR_WIDTH, pen=pg.mkPen(None))
        self.threshold_marks = pg.PlotDataItem(pen=pg.mkPen(THRESHOLD_COLOUR, width=2), connect="pairs")
        self.addItem(self.bars)
        self.addItem(self.threshold_marks)
        self.setVisible(False)

    @property
    def labels(self) -> list[str]:
        """The bars' labels, left to right."""
        return [f"AU{au}" for au in self.thresholds]

    def set_thresholds(self, thresholds: dict[int, float]) -> None:
        """Show the AUs of a model (AU number → presence threshold, in the model's order); empty hides."""
        self.thresholds = dict(thresholds)
        self.setVisible(bool(self.thresholds))
        self.setFixedWidth(max(MIN_WIDTH, AXIS_WIDTH + BAR_SPACING * len(self.thresholds)))
        x = np.arange(len(self.thresholds), dtype=np.float64)
        self.getPlotItem().getAxis("bottom").setTicks([list(zip(x.tolist(), self.labels, strict=True))])
        self.setXRange(-0.5, len(x) - 0.5, padding=0.02)
        level = np.repeat(np.array(list(self.thresholds.values()), dtype=np.float64), 2)
        self.threshold_marks.setData(np.repeat(x, 2) + np.tile([-0.5, 0.5], len(x)) * BAR_WIDTH, level)
        self.set_values(None)

    def set_values(self, values: dict[int, float] | None) -> None:
        """Show one frame's AU probabilities (AU number → 0..1); None (no face), or values of other AUs (a
        frame of the previous model), empty the bars."""
        self.values = None
        if values is not None and values.keys() == self.thresholds.keys():
            self.values = {au: float(values[au]) for au in self.thresholds}
        heights = [0.0 if self.values is None else self.values[au] for au in self.thresholds]
        brushes = [PRESENT_COLOUR if height >= threshold and self.values is not None else ABSENT_COLOUR
                   for height, threshold in zip(heights, self.thresholds.values(), strict=True)]
        self.bars.setOpts(x=np.arange(len(heights)), height=heights, brushes=brushes)

    def present(self) -> list[int]:
        """The AUs drawn as present (highlighted)."""
        colours = [pg.mkBrush(b).color().name() for b in self.bars.opts["brushes"]]
        return [au for au, colour in zip(self.thresholds, colours, strict=True)
                if colour == pg.mkColor(PRESENT_COLOUR).name()]
