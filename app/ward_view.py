"""The ward: one tile per bed (live thumbnail, big score, sparkline, status, alarm colour) and Add bed."""

from __future__ import annotations

import math

from PySide6.QtCore import QSize, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from app.monitor import BedRuntime, Monitor
from app.widgets.tile import BedTile

TILE_SIZE = QSize(440, 300)


def bed_status_text(runtime: BedRuntime) -> str:
    """Status line of a bed: face/source status, analysis rate and frames dropped unanalysed."""
    text = runtime.status
    if runtime.source_ok and not runtime.paused:
        text += f" · {runtime.analysed_fps:.1f} fps"
        if runtime.dropped:
            text += f" · {runtime.dropped} dropped"
    return text


class WardView(QWidget):
    """Tiles of every bed, repainted from the monitor on each display tick (only what changed).

    Emits `bed_clicked(bed_id)` when a tile is clicked and `add_requested()` for the Add bed button.
    """

    bed_clicked = Signal(str)
    add_requested = Signal()

    def __init__(self, monitor: Monitor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.monitor = monitor
        self.tiles: dict[str, BedTile] = {}
        self._painted: dict[str, int] = {}
        self.add_button = QPushButton("Add bed…")
        self.add_button.clicked.connect(self.add_requested)
        self.summary = QLabel("")
        header = QHBoxLayout()
        header.addWidget(self.summary, 1)
        header.addWidget(self.add_button)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid_host)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(scroll, 1)
        monitor.beds_changed.connect(self.rebuild)
        monitor.updated.connect(self.refresh)
        self.rebuild()

    def rebuild(self) -> None:
        """Lay the tiles out again after beds were added, renamed or removed."""
        beds = self.monitor.beds
        for bed_id in set(self.tiles) - {b.bed_id for b in beds}:
            tile = self.tiles.pop(bed_id)
            self.grid.removeWidget(tile)
            tile.deleteLater()
            self._painted.pop(bed_id, None)
        columns = max(1, math.ceil(math.sqrt(len(beds))))
        for index in range(self.grid.columnCount()):
            self.grid.setColumnStretch(index, 0)
        for index in range(self.grid.rowCount()):
            self.grid.setRowStretch(index, 0)
        self.grid.setColumnStretch(columns, 1)  # tiles keep their size; spare room goes right and below
        self.grid.setRowStretch(math.ceil(len(beds) / columns), 1)
        for i, runtime in enumerate(beds):
            if runtime.bed_id not in self.tiles:
                self.tiles[runtime.bed_id] = self._new_tile(runtime.bed_id, runtime.config.name)
            tile = self.tiles[runtime.bed_id]
            tile.set_name(runtime.config.name)
            self.grid.addWidget(tile, i // columns, i % columns)
            self._painted.pop(runtime.bed_id, None)  # repaint it fully
        self.summary.setText(f"{len(beds)} bed(s)")
        self.refresh()

    def _new_tile(self, bed_id: str, name: str) -> BedTile:
        tile = BedTile(bed_id, name)
        tile.setMinimumSize(TILE_SIZE)
        tile.clicked.connect(self.bed_clicked)
        return tile

    def refresh(self) -> None:
        """Repaint the tiles whose bed changed; alarm colours every time (cheap when unchanged)."""
        for runtime in self.monitor.beds:
            tile = self.tiles.get(runtime.bed_id)
            if tile is None:
                continue
            tile.set_alarm(runtime.alarms.signal)
            tile.set_status(bed_status_text(runtime))
            if self._painted.get(runtime.bed_id) == runtime.version:
                continue
            self._painted[runtime.bed_id] = runtime.version
            tile.set_score(runtime.score)
            tile.set_reading(runtime.reason, runtime.quality)
            tile.set_history(runtime.history.t, runtime.history.score)
            live = runtime.source_ok and not runtime.paused and runtime.latest is not None
            tile.set_frame(runtime.latest.image if live and runtime.latest is not None else None)
