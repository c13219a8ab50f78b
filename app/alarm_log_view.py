"""The alarm log: every alarm transition in the record, of all sessions (a restart keeps them), and this run's
new ones live, newest first, coloured by priority. Filters by bed, minimum priority and time range; at most
`MAX_ROWS` rows are shown, and the CSV export has every row the filters let through."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app import export
from app.alarms import COLOURS, TEXT_COLOURS, Priority
from app.bed_runtime import LogEntry
from app.handoff import wall_clock
from app.monitor import Monitor
from app.record import AlarmHistoryRow, RecordError, RecordReader
from engine.errors import PainmonError

COLUMNS = ("Time", "Bed", "Alarm", "Priority", "Event", "Message")
MAX_ROWS = 1000
"""Rows shown at most (the newest); the export is not bounded."""
PRIORITIES = (("All priorities", Priority.NONE), ("Low and above", Priority.LOW),
              ("Medium and above", Priority.MEDIUM), ("High", Priority.HIGH))
"""Minimum-priority choices; audio-pause events have no priority and show with "All priorities" only."""
RANGES = (("Last hour", 3600.0), ("Last 8 hours", 8 * 3600.0), ("Last 24 hours", 86_400.0),
          ("Last 7 days", 7 * 86_400.0), ("All time", math.inf))
DEFAULT_RANGE = 2
"""The last 24 hours: a shift and the one before it."""
ALL_BEDS = "All beds"


@dataclass(frozen=True)
class HistoryFilter:
    """What the filters let through: one bed (None: all), a minimum priority, events from `start` on."""

    bed_id: str | None
    min_priority: Priority
    start: float

    def admits(self, row: AlarmHistoryRow) -> bool:
        """True when the row passes every filter."""
        return ((self.bed_id is None or row.bed_id == self.bed_id) and row.priority >= self.min_priority
                and row.t >= self.start)


def live_row(entry: LogEntry) -> AlarmHistoryRow:
    """A transition of this run as a row of the history."""
    event = entry.event
    return AlarmHistoryRow(event.t, entry.bed_id, entry.bed_name, event.kind, event.priority,
                           event.transition, event.message)


def merged(recorded: list[AlarmHistoryRow], live: Iterable[AlarmHistoryRow]) -> list[AlarmHistoryRow]:
    """The recorded rows (newest first) and the live ones (oldest first) that are not in the record (yet, or
    at all when their bed had no session), newest first. Rows of one time keep the order they happened in:
    a live row not in the record came after the recorded ones."""
    seen = {(r.t, r.bed_id, r.kind, r.transition) for r in recorded}
    fresh = [r for r in reversed(list(live)) if (r.t, r.bed_id, r.kind, r.transition) not in seen]
    return sorted([*fresh, *recorded], key=lambda r: r.t, reverse=True)


def events(count: int) -> str:
    """"1 alarm event", "2 alarm events"."""
    return f"{count} alarm event{'' if count == 1 else 's'}"


class AlarmLogView(QWidget):
    """A read-only table of the record's alarm history and `Monitor.alarm_log`, kept up to date through
    `alarm_logged`, with filters, a note on what is left out, and a CSV export."""

    def __init__(self, monitor: Monitor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.monitor = monitor
        self.record_path = monitor.record.path
        self.bed_filter, self.priority_filter, self.range_filter = QComboBox(), QComboBox(), QComboBox()
        for label, priority in PRIORITIES:
            self.priority_filter.addItem(label, priority)
        for label, span in RANGES:
            self.range_filter.addItem(label, span)
        self.range_filter.setCurrentIndex(DEFAULT_RANGE)
        self.export_button = QPushButton("Export CSV…")
        self.note, self.export_note = QLabel(), QLabel()
        self.table = self._make_table()
        self._left_out = False
        self._problem: str | None = None
        self._lay_out()
        self.fill_beds()
        for combo in (self.bed_filter, self.priority_filter, self.range_filter):
            combo.currentIndexChanged.connect(self.refresh)
        self.export_button.clicked.connect(self._choose_export)
        monitor.alarm_logged.connect(self.add)
        monitor.beds_changed.connect(self.fill_beds)
        self.refresh()

    def _make_table(self) -> QTableWidget:
        table = QTableWidget(0, len(COLUMNS))
        table.setHorizontalHeaderLabels(COLUMNS)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setStretchLastSection(True)  # the message
        return table

    def _lay_out(self) -> None:
        filters = QHBoxLayout()
        for widget in (QLabel("Bed"), self.bed_filter, QLabel("Priority"), self.priority_filter,
                       QLabel("Time"), self.range_filter):
            filters.addWidget(widget)
        filters.addStretch(1)
        filters.addWidget(self.export_note)
        filters.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.note)

    # -- filters --------------------------------------------------------------------------------------
    def fill_beds(self) -> None:
        """Offer every bed of the record and of the ward (current names), keeping the chosen one."""
        chosen = self.bed_filter.currentData()
        beds: dict[str, str] = {}
        try:
            with RecordReader(self.record_path) as reader:
                beds = reader.beds()
        except (RecordError, sqlite3.Error):
            pass  # `refresh` says why the record cannot be read
        beds.update({runtime.bed_id: runtime.config.name for runtime in self.monitor.beds})
        self.bed_filter.blockSignals(True)
        self.bed_filter.clear()
        self.bed_filter.addItem(ALL_BEDS, None)
        for bed_id, name in sorted(beds.items(), key=lambda item: item[1].casefold()):
            self.bed_filter.addItem(name, bed_id)
        self.bed_filter.setCurrentIndex(max(0, self.bed_filter.findData(chosen)))
        self.bed_filter.blockSignals(False)
        if self.bed_filter.currentData() != chosen:  # the chosen bed is gone
            self.refresh()

    def history_filter(self) -> HistoryFilter:
        """What the filters let through now."""
        return HistoryFilter(self.bed_filter.currentData(), Priority(self.priority_filter.currentData()),
                             wall_clock() - float(self.range_filter.currentData()))

    def history(self, limit: int | None = None) -> tuple[list[AlarmHistoryRow], str | None]:
        """The rows the filters let through, newest first (at most `limit`), from the record and this run's
        log, and why the record could not be read (None when it could)."""
        chosen = self.history_filter()
        recorded: list[AlarmHistoryRow] = []
        problem = None
        try:
            with RecordReader(self.record_path) as reader:
                recorded = reader.alarm_history(chosen.start, bed_ids=None if chosen.bed_id is None
                                                else [chosen.bed_id], min_priority=chosen.min_priority,
                                                limit=limit)
        except (RecordError, sqlite3.Error) as exc:
            problem = f"the record cannot be read ({exc})"
        live = (row for row in map(live_row, self.monitor.alarm_log) if chosen.admits(row))
        return merged(recorded, live)[:limit], problem

    # -- the table ------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the history again with the filters as they are."""
        rows, self._problem = self.history(MAX_ROWS + 1)
        self._left_out = len(rows) > MAX_ROWS
        self.table.setRowCount(0)
        self.table.setRowCount(min(len(rows), MAX_ROWS))
        for index, row in enumerate(rows[:MAX_ROWS]):
            self._show(index, row)
        for column in range(len(COLUMNS) - 1):  # once here: live rows are alike
            self.table.resizeColumnToContents(column)
        self._update_note()

    def add(self, entry: LogEntry) -> None:
        """Put one new transition at the top of the table, if the filters let it through."""
        row = live_row(entry)
        if not self.history_filter().admits(row):
            return
        self.table.insertRow(0)
        self._show(0, row)
        if self.table.rowCount() > MAX_ROWS:
            self.table.removeRow(MAX_ROWS)
            self._left_out = True
        self._update_note()

    def rows(self) -> list[tuple[str, ...]]:
        """The table's text, top row first."""
        return [tuple(item.text() if (item := self.table.item(r, c)) else "" for c in range(len(COLUMNS)))
                for r in range(self.table.rowCount())]

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        """Read the history again when the tab is shown: the time range has moved on."""
        self.refresh()
        super().showEvent(event)

    def _show(self, index: int, row: AlarmHistoryRow) -> None:
        time_text = datetime.fromtimestamp(row.t).strftime("%Y-%m-%d %H:%M:%S")
        values = (time_text, row.bed_name, row.alarm, row.priority.label, row.transition.label, row.message)
        colour = COLOURS.get(row.priority)
        for column, value in enumerate(values):
            item = QTableWidgetItem(value)
            if colour is not None:
                item.setBackground(QColor(colour))
                item.setForeground(QColor(TEXT_COLOURS[row.priority]))
            self.table.setItem(index, column, item)

    def _update_note(self) -> None:
        count = self.table.rowCount()
        text = events(count)
        if self._left_out:
            text = f"The newest {text} are shown; older ones are left out (narrow the filters or export)"
        if self._problem is not None:
            text += f" — {self._problem}: only this run's alarms are shown."
        self.note.setText(text)

    # -- export ---------------------------------------------------------------------------------------
    def export_csv(self, path: str | Path) -> Path:
        """Write every row the filters let through (not only those shown) as CSV, readable by its owner
        only; says so in the view. ExportError when the record cannot be read or the file written."""
        rows, problem = self.history()
        if problem is not None:
            raise export.ExportError(f"{problem}: nothing exported")
        written = export.write_alarm_csv(rows, Path(path))
        self.export_note.setText(f"{events(len(rows))} saved to {written}")
        return written

    def _choose_export(self) -> None:
        suggested = Path.home() / f"alarm_log_{datetime.now():%Y-%m-%d_%H%M}.csv"
        path, _ = QFileDialog.getSaveFileName(self, "Export the alarm log", str(suggested), "*.csv")
        if path:
            try:
                self.export_csv(path)
            except PainmonError as error:
                self.export_note.setText(f"Not exported: {error}")
