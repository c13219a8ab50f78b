"""The pain curve of one bed: score 0–5 against wall-clock time, for live monitoring and replay.

Gaps (frames without a face, stretches without frames) are drawn as breaks, never as 0. Thresholds, alarm
spans, annotation markers and a replay cursor sit on the same axes. A row of buttons picks the visible
window (1, 5, 15, 60 minutes or the whole session); the view follows the newest sample (or the cursor)
until the user pans or zooms, and picking a window follows again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from app.alarms import COLOURS, Priority
from app.series import DEFAULT_MAX_GAP_S, ScoreSeries, with_gaps

WINDOWS: dict[str, float | None] = {"1 min": 60.0, "5 min": 300.0, "15 min": 900.0, "60 min": 3600.0,
                                    "Session": None}
SCORE_RANGE = (0.0, 5.0)
CURVE_COLOUR = "#4fc3f7"
SPAN_ALPHA = 60
LABEL_LANES = (0.92, 0.8, 0.68, 0.56)
"""Where marker labels sit along their lines (fractions of the plot's height), lane by lane."""
LABEL_GAP_PX = 6.0


def _check_window(name: str) -> None:
    if name not in WINDOWS:
        raise ValueError(f"unknown window {name!r}; choose from {', '.join(WINDOWS)}")


def _alpha(colour: str, alpha: int) -> QColor:
    result = QColor(colour)
    result.setAlpha(alpha)
    return result


class PainCurve(QWidget):
    """Window buttons above a pyqtgraph plot of one bed's scores (`live` for a bed being monitored: samples
    keep arriving and the view follows them).

    `time_clicked(t)` is emitted when the user clicks the plot at time t (the replay view seeks there and
    calls `set_cursor(t)`).
    """

    time_clicked = Signal(float)

    def __init__(self, parent: QWidget | None = None, *, window: str = "5 min",
                 max_gap_s: float = DEFAULT_MAX_GAP_S, live: bool = False) -> None:
        super().__init__(parent)
        _check_window(window)
        self.live = live
        self._now = -math.inf
        self.series = ScoreSeries()
        self._drawn = ScoreSeries()  # the series with a NaN sample in each gap, as drawn
        self.max_gap_s = max_gap_s
        self._window = window
        self._follow = True
        self._spans: list[tuple[float, float | None, pg.LinearRegionItem]] = []
        self._marker_items: list[pg.InfiniteLine] = []

        self.plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
        item = self.plot.getPlotItem()
        item.setClipToView(True)
        item.setDownsampling(auto=True, mode="peak")
        item.showGrid(x=True, y=True, alpha=0.2)
        item.setLabel("left", "pain")
        item.hideButtons()
        item.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.setYRange(*SCORE_RANGE, padding=0.04)
        self.view_box = item.getViewBox()
        self.view_box.sigRangeChangedManually.connect(self._stop_following)
        self.view_box.sigXRangeChanged.connect(lambda *_: self._stagger_labels())
        self.curve = self.plot.plot(pen=pg.mkPen(CURVE_COLOUR, width=2), connect="finite")
        threshold_pen = pg.mkPen(COLOURS[Priority.MEDIUM], width=1, style=Qt.PenStyle.DashLine)
        self.threshold_line = pg.InfiniteLine(angle=0, movable=False, pen=threshold_pen)
        self.threshold_line.setVisible(False)
        self.cursor_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("w", width=2))
        self.cursor_line.setVisible(False)
        self.plot.addItem(self.threshold_line, ignoreBounds=True)
        self.plot.addItem(self.cursor_line, ignoreBounds=True)
        self.plot.scene().sigMouseClicked.connect(self._clicked)

        self.window_buttons = QButtonGroup(self)
        buttons = QHBoxLayout()
        for name in WINDOWS:
            button = QPushButton(name)
            button.setCheckable(True)
            button.setChecked(name == window)
            button.clicked.connect(lambda _=False, n=name: self.set_window(n))
            self.window_buttons.addButton(button)
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.plot, 1)

    # -- data -----------------------------------------------------------------------------------------
    def set_data(self, t: np.ndarray, score: np.ndarray) -> None:
        """Replace all samples (replay, or a bed view opened on a running bed)."""
        self.series.clear()
        self._drawn.clear()
        self.append(t, score)

    def append(self, t: np.ndarray | float, score: np.ndarray | float) -> None:
        """Add the newest samples (one, or arrays of them) and redraw once. The cost does not grow with the
        stay: gaps are marked as samples arrive, and while the curve follows a window of minutes only the
        last stretch goes to the plot."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        score = np.atleast_1d(np.asarray(score, dtype=np.float64))
        last_t, last_score = self.series.t[-1:], self.series.score[-1:]  # the gap before the new samples too
        self.series.extend(t, score)
        x, y = with_gaps(np.concatenate((last_t, t)), np.concatenate((last_score, score)), self.max_gap_s)
        self._drawn.extend(x[len(last_t):], y[len(last_t):])
        self._draw()
        self._extend_spans()
        if self._follow:
            self._apply_window()

    def _draw(self) -> None:
        """Hand the plot the samples it may show: on a live curve following a window of minutes, the last two
        windows' worth; otherwise (panned by hand, the whole session, replay) all of them."""
        span = WINDOWS[self._window]
        if self.live and self._follow and span is not None and len(self._drawn):
            x, y = self._drawn.since(float(self._drawn.t[-1]) - 2 * span)
        else:
            x, y = self._drawn.t, self._drawn.score
        self.curve.setData(x, y, connect="finite")

    def set_threshold(self, value: float | None) -> None:
        """Show the alarm threshold as a dashed line (None hides it)."""
        self.threshold_line.setVisible(value is not None)
        if value is not None:
            self.threshold_line.setValue(value)

    def set_alarm_spans(self, spans: Sequence[tuple[float, float | None]]) -> None:
        """Shade pain-alarm episodes (start, end); end None means still on: shaded up to the newest sample."""
        for _, _, region in self._spans:
            self.plot.removeItem(region)
        brush = _alpha(COLOURS[Priority.MEDIUM], SPAN_ALPHA)
        self._spans = []
        for start, end in spans:
            region = pg.LinearRegionItem((start, start), movable=False, brush=brush, pen=pg.mkPen(None))
            region.setZValue(-10)
            self.plot.addItem(region, ignoreBounds=True)
            self._spans.append((start, end, region))
        self._extend_spans()

    @property
    def alarm_spans(self) -> list[tuple[float, float]]:
        """The shaded alarm spans as drawn, (start, end) each."""
        return [tuple(map(float, region.getRegion())) for _, _, region in self._spans]  # type: ignore[misc]

    def set_annotations(self, markers: Sequence[tuple[float, str]]) -> None:
        """Replace the event markers: (time, label) each, drawn as labelled vertical lines."""
        for line in self._marker_items:
            self.plot.removeItem(line)
        self._marker_items = []
        for t, label in markers:
            self.add_annotation(t, label)

    def add_annotation(self, t: float, label: str) -> None:
        """Add one event marker."""
        pen = pg.mkPen("#bdbdbd", style=Qt.PenStyle.DotLine)
        options = {"position": LABEL_LANES[0], "color": "#eeeeee", "fill": (40, 40, 40, 200)}
        line = pg.InfiniteLine(pos=t, angle=90, movable=False, pen=pen, label=label, labelOpts=options)
        self.plot.addItem(line, ignoreBounds=True)
        self._marker_items.append(line)
        self._stagger_labels()

    def _stagger_labels(self) -> None:
        """Put the labels of markers close in time in lanes down the plot, so that none covers another
        (laid out again whenever the visible range changes; when every lane is taken, the fullest
        one's label may still overlap)."""
        lo, hi = self.x_range()
        if hi <= lo or not self._marker_items:
            return
        per_second = self.view_box.width() / (hi - lo)
        ends = [-math.inf] * len(LABEL_LANES)  # right edge (px) of the last label of each lane
        for line in sorted(self._marker_items, key=lambda item: float(item.value())):
            x = (float(line.value()) - lo) * per_second
            width = line.label.boundingRect().width() + LABEL_GAP_PX
            # a label at position p along its line sits p of its width left of the line, the rest right
            free = [lane for lane, p in enumerate(LABEL_LANES) if x - p * width > ends[lane]]
            lane = free[0] if free else min(range(len(ends)), key=ends.__getitem__)
            line.label.setPosition(LABEL_LANES[lane])
            ends[lane] = x + (1.0 - LABEL_LANES[lane]) * width

    @property
    def markers(self) -> list[tuple[float, str]]:
        """The event markers shown, as (time, label)."""
        return [(float(line.value()), line.label.format) for line in self._marker_items]

    # -- view -----------------------------------------------------------------------------------------
    @property
    def window(self) -> str:  # type: ignore[override]  # a curve is never asked for its top-level window
        """Name of the selected window (a key of WINDOWS)."""
        return self._window

    def set_window(self, name: str) -> None:
        """Show a window of WINDOWS and follow the newest sample (or the cursor) again."""
        _check_window(name)
        self._window = name
        self._follow = True
        for button in self.window_buttons.buttons():
            button.setChecked(button.text() == name)
        self._draw()
        self._apply_window()

    def set_cursor(self, t: float | None) -> None:
        """Place the replay cursor at time t (None hides it); the view pages to keep it visible."""
        self.cursor_line.setVisible(t is not None)
        if t is None:
            return
        self.cursor_line.setValue(t)
        lo, hi = self.view_box.viewRange()[0]
        if self._follow and not lo <= t <= hi:
            self._apply_window()

    def cursor_time(self) -> float | None:
        """Where the cursor is, None when hidden."""
        return float(self.cursor_line.value()) if self.cursor_line.isVisible() else None

    def x_range(self) -> tuple[float, float]:
        """The visible time range."""
        lo, hi = self.view_box.viewRange()[0]
        return float(lo), float(hi)

    def _apply_window(self) -> None:
        t = self.series.t
        if len(t) == 0:
            return
        span = WINDOWS[self._window]
        if span is None:
            lo, hi = float(t[0]), max(float(t[-1]), float(t[0]) + 1.0)
        elif self.cursor_line.isVisible():
            centre = float(self.cursor_line.value())
            lo, hi = centre - span / 2, centre + span / 2
        else:
            hi = max(float(t[-1]), self._now)
            lo = hi - span
        self.view_box.setXRange(lo, hi, padding=0)

    def set_now(self, t: float) -> None:
        """The present, for a live curve: while it follows a window of minutes, the window ends now even when
        no sample has come for a while (a privacy pause, a lost camera), so the time axis keeps moving."""
        self._now = t
        if self.live and self._follow and WINDOWS[self._window] is not None and len(self.series):
            self._apply_window()

    def _stop_following(self) -> None:
        if self._follow:
            self._follow = False
            self._draw()  # panned or zoomed by hand: all of it, to look back at

    def _extend_spans(self) -> None:
        """Let open alarm spans reach the newest sample."""
        newest = float(self.series.t[-1]) if len(self.series) else None
        for start, end, region in self._spans:
            stop = end if end is not None else newest
            region.setRegion((start, start if stop is None else max(start, stop)))

    def _clicked(self, event: object) -> None:
        if event.button() != Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            return
        position: QPointF = event.scenePos()  # type: ignore[attr-defined]
        if self.view_box.sceneBoundingRect().contains(position):
            self.time_clicked.emit(float(self.view_box.mapSceneToView(position).x()))
