"""The ward as a central station: a tile per bed (live thumbnail, big score, sparkline, status, alarm colour)
filling the view, optionally beds in alarm first, and Add bed."""

from __future__ import annotations

import math

from PySide6.QtCore import Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.bed_runtime import BedRuntime
from app.monitor import Monitor
from app.widgets.tile import BedTile

TILE_ASPECT = 1.6
"""Width over height a tile looks best at; the grid's shape is chosen to give tiles the most room at it."""


def grid_shape(beds: int, width: int, height: int) -> tuple[int, int]:
    """Rows and columns for `beds` tiles in a width × height area: the shape whose cells hold the largest
    tile of `TILE_ASPECT`, the one with fewer empty cells on a tie."""
    best = (0.0, 0, (1, 1))
    for columns in range(1, max(1, beds) + 1):
        rows = math.ceil(max(1, beds) / columns)
        cell_w, cell_h = width / columns, height / rows
        tile_h = min(cell_h, cell_w / TILE_ASPECT)
        candidate = (tile_h, -(rows * columns - beds), (rows, columns))
        best = max(best, candidate)
    return best[2]


SKIPPED_SAID_FROM = 0.05
"""A bed's status says what share of its frames went unanalysed once it is this high (a few always do: only a
bed's newest frame waits for the model)."""


def bed_status_text(runtime: BedRuntime) -> str:
    """Status line of a bed: face/source status, analysis rate, and the share of frames skipped unanalysed
    when it matters (the computer cannot keep up)."""
    text = runtime.status
    if runtime.source_ok and not runtime.paused:
        text += f" · {runtime.analysed_fps:.1f} fps"
        skipped = runtime.dropped / runtime.captured if runtime.captured else 0.0
        if skipped >= SKIPPED_SAID_FROM:
            text += f" · {100 * skipped:.0f} % of frames skipped"
    return text


class WardView(QWidget):
    """A central station: a tile for every bed, filling the view (16 beds at 1280×720 without scrolling),
    repainted from the monitor on each display tick (only what changed); optionally beds in alarm first.

    Emits `bed_clicked(bed_id)` when a tile is clicked and `add_requested()` for the Add bed button.
    """

    bed_clicked = Signal(str)
    add_requested = Signal()

    def __init__(self, monitor: Monitor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.monitor = monitor
        self.tiles: dict[str, BedTile] = {}
        self._painted: dict[str, int] = {}
        self._placed: tuple[tuple[str, ...], tuple[int, int]] = ((), (0, 0))
        self.add_button = QPushButton("Add bed…")
        self.add_button.clicked.connect(self.add_requested)
        self.alarms_first = QCheckBox("Beds in alarm first")
        self.alarms_first.toggled.connect(lambda _: self._place())
        self.summary = QLabel("")
        header = QHBoxLayout()
        header.addWidget(self.summary, 1)
        header.addWidget(self.alarms_first)
        header.addWidget(self.add_button)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setWidget(self.grid_host)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.scroll_area, 1)
        monitor.beds_changed.connect(self.rebuild)
        monitor.updated.connect(self.refresh)
        self.rebuild()

    def rebuild(self) -> None:
        """Make and drop tiles after beds were added, renamed or removed, and lay them out."""
        beds = self.monitor.beds
        for bed_id in set(self.tiles) - {b.bed_id for b in beds}:
            tile = self.tiles.pop(bed_id)
            self.grid.removeWidget(tile)
            tile.deleteLater()
            self._painted.pop(bed_id, None)
        for runtime in beds:
            if runtime.bed_id not in self.tiles:
                tile = self.tiles[runtime.bed_id] = BedTile(runtime.bed_id, runtime.config.name)
                tile.clicked.connect(self.bed_clicked)
            self.tiles[runtime.bed_id].set_name(runtime.config.name)
            self._painted.pop(runtime.bed_id, None)  # repaint it fully
        self.summary.setText(f"{len(beds)} bed(s)")
        self._placed = ((), (0, 0))
        self._place()
        self.refresh()

    def order(self) -> list[str]:
        """Bed ids in the order their tiles are shown: the ward's order, or with beds in alarm first (the
        highest priority first, the ward's order among equals)."""
        beds = self.monitor.beds
        if self.alarms_first.isChecked():
            beds = sorted(beds, key=lambda b: -b.alarms.signal.priority)
        return [b.bed_id for b in beds]

    def _place(self) -> None:
        """Put the tiles in the grid shape that gives them the most room (only when order or shape change)."""
        order = tuple(bed_id for bed_id in self.order() if bed_id in self.tiles)
        viewport = self.scroll_area.viewport().size()
        shape = grid_shape(len(order), viewport.width(), viewport.height())
        if (order, shape) == self._placed:
            return
        self._placed = (order, shape)
        rows, columns = shape
        for tile in self.tiles.values():
            self.grid.removeWidget(tile)
        for index in range(max(rows, columns, self.grid.rowCount(), self.grid.columnCount())):
            self.grid.setRowStretch(index, 1 if index < rows else 0)
            self.grid.setColumnStretch(index, 1 if index < columns else 0)
        for i, bed_id in enumerate(order):
            self.grid.addWidget(self.tiles[bed_id], i // columns, i % columns)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        """Choose the grid's shape again for the new size."""
        super().resizeEvent(event)
        self._place()

    def refresh(self) -> None:
        """Repaint the tiles whose bed changed; alarm colours, limits and order every time (cheap when
        unchanged)."""
        if self.alarms_first.isChecked():
            self._place()
        for runtime in self.monitor.beds:
            tile = self.tiles.get(runtime.bed_id)
            if tile is None:
                continue
            tile.set_alarm(runtime.alarms.signal)
            tile.set_limit(runtime.config.alarms.threshold)
            tile.set_status(bed_status_text(runtime))
            if self._painted.get(runtime.bed_id) == runtime.version:
                continue
            self._painted[runtime.bed_id] = runtime.version
            tile.set_score(runtime.score)
            tile.set_reading(runtime.reason, runtime.quality)
            tile.set_history(runtime.history.t, runtime.history.score)
            live = runtime.source_ok and not runtime.paused and runtime.latest is not None
            tile.set_frame(runtime.latest.image if live and runtime.latest is not None else None)
