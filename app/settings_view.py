"""Settings: which model runs (with its model card), on which backend and device, audible alarms, data
retention, and how long a privacy pause lasts."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.handoff import ModelInfo
from app.monitor import Monitor
from app.report_format import card_rows
from app.settings import MAX_RETENTION_DAYS, PRIVACY_PAUSE_MIN, MonitorSettings
from engine.backends import Backend

if TYPE_CHECKING:
    from engine.model_card import ModelCard

AUTOMATIC_DEVICE = "automatic"
CHECKING = "Checking the new model on a simulated face… the model running keeps scoring meanwhile."
DEVICES = (AUTOMATIC_DEVICE, "cpu", "cuda")
MODEL_FILTER = "painmon models (*.safetensors);;All files (*)"
RETENTION_NOTE = (
    "Off by default: painmon keeps every record until you delete it. When on, sessions that ended more "
    "than this many days ago (their scores, alarms and notes) and video recordings older than that are "
    "deleted for good, at start and every hour. Sessions still open are kept.")


def card_html(card: ModelCard) -> str:
    """The model card as an HTML table for a QLabel, one readable line per field (app.report_format)."""
    cells = "".join(f"<tr><td><b>{html.escape(key)}</b></td><td>{html.escape(value)}</td></tr>"
                    for key, value in card_rows(card))
    return f"<table cellspacing='4'>{cells}</table>"


class SettingsView(QWidget):
    """Model file, backend and device (applied with Apply, which reloads the model in the background),
    audible alarms, data retention, the privacy pause's length, and the card of the model running."""

    def __init__(self, monitor: Monitor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.monitor = monitor
        settings = monitor.settings
        self.model_edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_edit, 1)
        model_row.addWidget(browse)
        self.backend_combo = QComboBox()
        for backend in Backend:
            self.backend_combo.addItem(backend.label, backend.value)
        self.device_combo = QComboBox()
        self.device_combo.setEditable(True)
        self.device_combo.addItems(DEVICES)
        self._show_engine(settings)
        self.audible_check = QCheckBox("Sound the alarm tone for pain alarms")
        self.audible_check.setChecked(settings.audible)
        self.retention_spin = QSpinBox()
        self.retention_spin.setRange(0, MAX_RETENTION_DAYS)
        self.retention_spin.setSpecialValueText("off (keep everything)")
        self.retention_spin.setSuffix(" days")
        self.retention_spin.setValue(settings.retention_days)
        retention_note = QLabel(RETENTION_NOTE)
        self.privacy_spin = QSpinBox()
        self.privacy_spin.setRange(*PRIVACY_PAUSE_MIN)
        self.privacy_spin.setSuffix(" min")
        self.privacy_spin.setValue(settings.privacy_pause_min)
        self.privacy_spin.setToolTip("Monitoring resumes on its own after this; a minute before, the bed "
                                     "says so")
        retention_note.setWordWrap(True)
        self.apply_button = QPushButton("Apply")
        self.apply_button.clicked.connect(self.apply)
        self.check_label = QLabel("")
        self.check_label.setWordWrap(True)
        self.status_label = QLabel("loading model…")
        self.status_label.setWordWrap(True)
        self.card_label = QLabel("")
        self.card_label.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Model file", model_row)
        form.addRow("Backend", self.backend_combo)
        form.addRow("Device", self.device_combo)
        form.addRow("", self.audible_check)
        form.addRow("Delete records older than", self.retention_spin)
        form.addRow("", retention_note)
        form.addRow("Privacy pause lasts", self.privacy_spin)
        form.addRow("", self.apply_button)
        form.addRow("", self.check_label)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("<h3>Model running</h3>"))
        layout.addWidget(self.status_label)
        layout.addWidget(self.card_label)
        layout.addStretch(1)
        monitor.model_changed.connect(self.show_model)
        monitor.model_checked.connect(self.show_check)
        if monitor.model is not None:
            self.show_model(monitor.model)

    def settings(self) -> MonitorSettings:
        """The settings as entered (ValueError for an unknown backend)."""
        device = self.device_combo.currentText().strip()
        return MonitorSettings(model_path=self.model_edit.text().strip(),
                               backend=self.backend_combo.currentData(),
                               device="" if device == AUTOMATIC_DEVICE else device,
                               audible=self.audible_check.isChecked(),
                               retention_days=self.retention_spin.value(),
                               privacy_pause_min=self.privacy_spin.value())

    def apply(self) -> None:
        """Save the settings; a new model, backend or device is checked in the background first (the model
        running keeps scoring meanwhile, and if the new one fails)."""
        settings = self.settings()
        checking = settings.engine != self.monitor.settings.engine
        self.check_label.setText(CHECKING if checking else "")
        self.apply_button.setEnabled(not checking)
        self.monitor.apply_settings(settings)

    def show_check(self, failure: str | None) -> None:
        """The end of a model check: loading the new model, or why it was refused (the old one runs on)."""
        self.apply_button.setEnabled(True)
        if failure is None:
            self.check_label.clear()
            self.status_label.setText("loading model…")
            self.card_label.clear()
        else:
            self.check_label.setText(f"Model not changed: {failure}. The model running keeps scoring.")
            self._show_engine(self.monitor.settings)  # the fields show what runs, not what was refused

    def _show_engine(self, settings: MonitorSettings) -> None:
        """Show a model file, backend and device in their fields."""
        self.model_edit.setText(settings.model_path)
        self.backend_combo.setCurrentIndex(self.backend_combo.findData(settings.backend))
        self.device_combo.setCurrentText(settings.device or AUTOMATIC_DEVICE)

    def show_model(self, info: ModelInfo) -> None:
        """Show the loaded model and its card, or why none could be loaded."""
        if info.error is not None or info.card is None:
            self.status_label.setText(f"No model running: {info.error}")
            self.card_label.clear()
            return
        backend = Backend(info.backend).label if info.backend in list(Backend) else info.backend
        self.status_label.setText(f"{Path(info.path).name} on {backend}, device {info.device}")
        self.card_label.setText(card_html(info.card))

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model", self.model_edit.text(), MODEL_FILTER)
        if path:
            self.model_edit.setText(path)
