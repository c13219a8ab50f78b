"""Questions before irreversible actions (closing the monitor, removing a bed): a warning that says what
happens to the patients' records, with Cancel as the default answer."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def confirm(parent: QWidget, question: str, consequences: str, action: str) -> bool:
    """Ask `question` (consequences below it) in a modal box; True when `action` (the Yes button's text) is
    chosen, False for Cancel or Escape."""
    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel
    box = QMessageBox(QMessageBox.Icon.Warning, "painmon", question, buttons, parent)
    box.setInformativeText(consequences)
    box.button(QMessageBox.StandardButton.Yes).setText(action)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    return box.exec() == QMessageBox.StandardButton.Yes


def records_kept(retention_days: int) -> str:
    """What becomes of the records of beds that stop being monitored, under the data-retention setting."""
    retention = ("Data retention is off: they are kept until deleted." if not retention_days else
                 f"Data retention (Settings) deletes them {retention_days} days after they end.")
    return ("Each open session is ended and kept in the record with its scores, alarms and notes; video "
            f"recordings are kept. {retention}")
