"""The alarm log: every alarm transition of this run, newest first, coloured by priority."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.alarms import COLOURS, TEXT_COLOURS
from app.monitor import LogEntry, Monitor

COLUMNS = ("Time", "Bed", "Alarm", "Event", "Message")
MAX_ROWS = 1000


class AlarmLogView(QWidget):
    """A read-only table of `Monitor.alarm_log`, kept up to date through `alarm_logged`."""

    def __init__(self, monitor: Monitor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        for entry in monitor.alarm_log:
            self.add(entry)
        monitor.alarm_logged.connect(self.add)

    def add(self, entry: LogEntry) -> None:
        """Put one transition at the top of the table."""
        event = entry.event
        time_text = datetime.fromtimestamp(event.t).strftime("%H:%M:%S")
        kind = event.kind.label if event.kind else "audio"
        values = (time_text, entry.bed_name, kind, event.transition.label, event.message)
        self.table.insertRow(0)
        colour = COLOURS.get(event.priority)
        for column, value in enumerate(values):
            item = QTableWidgetItem(value)
            if colour is not None:
                item.setBackground(QColor(colour))
                item.setForeground(QColor(TEXT_COLOURS[event.priority]))
            self.table.setItem(0, column, item)
        if self.table.rowCount() > MAX_ROWS:
            self.table.removeRow(MAX_ROWS)

    def rows(self) -> list[tuple[str, ...]]:
        """The table's text, top row first."""
        return [tuple(item.text() if (item := self.table.item(r, c)) else "" for c in range(len(COLUMNS)))
                for r in range(self.table.rowCount())]
