"""One bed in detail: large live video with the face box and landmarks, the pain curve with thresholds,
alarm spans, event markers and gaps, the action units of the newest frame beside it (for a model with AUs),
one-click annotations, acknowledge and privacy pause (a timed standby: the button stays down while it runs,
the status counts down to the end and turns amber in its last minute), and the patient's stay: Admit… asks
for the patient's label, Discharge asks first; after a restart the curve shows the stay so far.

The curve keeps a readable height at 1280×720: the video takes what room is left (its picture never asks the
layout for more)."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.bed_runtime import BedRuntime
from app.beds import MAX_PATIENT_LENGTH, normalise_text
from app.confirm import confirm
from app.handoff import ModelInfo, wall_clock
from app.monitor import Monitor
from app.record import AnnotationKind, RecordError
from app.ward_view import bed_status_text
from app.widgets.au_bars import AUBars
from app.widgets.curve import PainCurve
from app.widgets.elided_label import ElidedLabel
from app.widgets.image import bgr_to_qimage, draw_face
from app.widgets.reading import ReadingLabels
from engine.status import FrameStatus

ONE_CLICK = (AnnotationKind.ANALGESIC, AnnotationKind.REPOSITIONED, AnnotationKind.PROCEDURE)
CURVE_MIN_HEIGHT = 290
"""The pain curve's least height with its window buttons (a plot of about 250 px): the video yields first."""
REMINDER_STYLE = "color: #ffb300; font-weight: bold;"
"""The status in a privacy pause's last minute: monitoring resumes soon."""


class BedView(QWidget):
    """Shows the bed picked in its combo box; `edit_requested(bed_id)` asks the window for the bed dialog."""

    edit_requested = Signal(str)

    def __init__(self, monitor: Monitor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.monitor = monitor
        self.bed_id: str | None = None
        self._painted_version = -1
        self._painted_samples = 0
        self._painted_spans: list[tuple[float, float | None]] = []
        self._painted_markers = 0

        self.bed_combo = QComboBox()
        self.bed_combo.currentIndexChanged.connect(self._combo_changed)
        self.status_label = ElidedLabel()  # a lost camera's reason is long: it must not widen the window
        self.edit_button = QPushButton("Edit bed…")
        self.edit_button.clicked.connect(self._edit)
        self.pause_button = QPushButton("Privacy pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Stop watching this bed for a while (Settings: how long); monitoring "
                                     "resumes on its own at the end, or when this is clicked again")
        self.pause_button.toggled.connect(self._pause_toggled)
        self.acknowledge_button = QPushButton("Acknowledge alarm")
        self.acknowledge_button.clicked.connect(self._acknowledge)
        self.stay_label = QLabel("")
        self.admit_button = QPushButton("Admit…")
        self.admit_button.setToolTip("Admit a patient to this bed: the curve and the record follow the stay "
                                     "across restarts until discharge")
        self.admit_button.clicked.connect(self._admit_clicked)
        self.discharge_button = QPushButton("Discharge")
        self.discharge_button.clicked.connect(self._discharge_clicked)
        header = QHBoxLayout()
        header.addWidget(self.bed_combo)
        header.addWidget(self.stay_label)
        header.addWidget(self.admit_button)
        header.addWidget(self.discharge_button)
        header.addWidget(self.status_label, 1)
        header.addWidget(self.acknowledge_button)
        header.addWidget(self.pause_button)
        header.addWidget(self.edit_button)

        self.video = QLabel("no video")
        self.video.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.video.setMinimumSize(320, 180)
        self.video.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.video.setStyleSheet("background: #000000; color: #9e9e9e;")
        self.score_label = QLabel("—")
        self.score_label.setStyleSheet("font-size: 48pt; font-weight: bold;")
        self.reading = ReadingLabels()
        self.alarm_label = QLabel("")
        self.alarm_label.setWordWrap(True)
        side = QVBoxLayout()
        side.addWidget(QLabel("Pain (0–5)"))
        side.addWidget(self.score_label)
        side.addWidget(self.reading.reason)
        side.addWidget(self.reading.quality)
        side.addWidget(self.alarm_label, 1)
        top = QHBoxLayout()
        top.addWidget(self.video, 3)
        top.addLayout(side, 1)

        self.curve = PainCurve(live=True)
        self.curve.setMinimumHeight(CURVE_MIN_HEIGHT)
        self.au_bars = AUBars()
        trends = QHBoxLayout()
        trends.addWidget(self.curve, 1)
        trends.addWidget(self.au_bars)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addLayout(top, 3)
        layout.addLayout(trends, 2)
        layout.addLayout(self._markers_row())
        monitor.beds_changed.connect(self._beds_changed)
        monitor.updated.connect(self.refresh)
        monitor.model_changed.connect(self._model_changed)
        if monitor.model is not None:
            self._model_changed(monitor.model)
        self._beds_changed()

    def _markers_row(self) -> QHBoxLayout:
        """One-click event markers and a free-text note."""
        self.annotation_buttons: dict[AnnotationKind, QPushButton] = {}
        markers = QHBoxLayout()
        markers.addWidget(QLabel("Mark:"))
        for kind in ONE_CLICK:
            button = QPushButton(kind.label)
            button.clicked.connect(lambda _=False, k=kind: self.annotate(k))
            self.annotation_buttons[kind] = button
            markers.addWidget(button)
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText("note…")
        self.note_edit.returnPressed.connect(self._add_note)
        self.note_button = QPushButton("Add note")
        self.note_button.clicked.connect(self._add_note)
        markers.addWidget(self.note_edit, 1)
        markers.addWidget(self.note_button)
        return markers

    @property
    def runtime(self) -> BedRuntime | None:
        """The bed shown, None when there is none."""
        return next((r for r in self.monitor.beds if r.bed_id == self.bed_id), None)

    def show_bed(self, bed_id: str) -> None:
        """Show a bed: its whole history goes onto the curve."""
        self.bed_combo.setCurrentIndex(self.bed_combo.findData(bed_id))
        self._load(bed_id)

    def admit(self, patient: str) -> None:
        """Admit a patient (a label or MRN, may be empty) to the shown bed; the record's refusal is shown."""
        if self.bed_id is None:
            return
        try:
            self.monitor.admit(self.bed_id, normalise_text(patient)[:MAX_PATIENT_LENGTH])
        except RecordError as error:
            QMessageBox.warning(self, "painmon", f"Not admitted: {error}")

    def annotate(self, kind: AnnotationKind, text: str = "") -> None:
        """Mark an event on the shown bed now."""
        if self.bed_id is not None:
            self.monitor.annotate(self.bed_id, kind, text)

    def refresh(self) -> None:
        """Paint what changed since the last tick."""
        runtime = self.runtime
        if runtime is None:
            return
        signal = runtime.alarms.signal
        self.alarm_label.setText(signal.text)
        self.status_label.set_full_text(f"{runtime.config.source.describe()} · {bed_status_text(runtime)}")
        reminding = runtime.privacy is not None and runtime.privacy.reminding(wall_clock())
        if self.status_label.styleSheet() != (style := REMINDER_STYLE if reminding else ""):
            self.status_label.setStyleSheet(style)
        self.acknowledge_button.setEnabled(runtime.pain_alarm_pending)
        if self.isVisible():  # the time axis moves on also while no sample comes
            self.curve.set_now(wall_clock())
        if runtime.version == self._painted_version:
            return
        self._painted_version = runtime.version
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(runtime.paused)
        self.pause_button.blockSignals(False)
        self._show_stay(runtime)
        history = runtime.history
        if len(history) < self._painted_samples or len(runtime.annotations) < self._painted_markers:
            self._load(self.bed_id)  # a new patient: the bed's curve started afresh
            return
        self.curve.set_threshold(runtime.config.alarms.threshold)
        if len(history) > self._painted_samples:
            self.curve.append(history.t[self._painted_samples:], history.score[self._painted_samples:])
            self._painted_samples = len(history)
        if runtime.pain_spans != self._painted_spans:
            self._painted_spans = list(runtime.pain_spans)
            self.curve.set_alarm_spans(self._painted_spans)
        for t, label in runtime.annotations[self._painted_markers:]:
            self.curve.add_annotation(t, label)
        self._painted_markers = len(runtime.annotations)
        score = runtime.score
        self.score_label.setText(f"{score:.1f}" if math.isfinite(score) else "—")
        self.reading.show(runtime.reason, runtime.quality)
        self._show_frame(runtime)

    def _show_stay(self, runtime: BedRuntime) -> None:
        stay = runtime.stay
        self.discharge_button.setEnabled(stay is not None)
        if stay is None:
            self.stay_label.setText("no patient admitted")
            return
        admitted = datetime.fromtimestamp(stay.admitted_at).strftime("%Y-%m-%d %H:%M")
        self.stay_label.setText(f"{stay.patient or 'patient'} · admitted {admitted}")

    def _admit_clicked(self) -> None:
        runtime = self.runtime
        if runtime is None:
            return
        question = "Patient label or MRN (optional):"
        if runtime.stay is not None:
            question = f"{runtime.stay.patient or 'The patient'} is discharged first.\n{question}"
        patient, ok = QInputDialog.getText(self, f"Admit to {runtime.config.name}", question)
        if ok:
            self.admit(patient)

    def _discharge_clicked(self) -> None:
        runtime = self.runtime
        if runtime is None or runtime.stay is None:
            return
        who = runtime.stay.patient or "the patient"
        if confirm(self, f"Discharge {who} from {runtime.config.name}?",
                   "The stay ends and is kept in the record with its sessions, scores, alarms and notes. The "
                   "bed's curve starts afresh; monitoring goes on with no patient admitted.", "Discharge"):
            self.monitor.discharge(runtime.bed_id)

    def _show_frame(self, runtime: BedRuntime) -> None:
        latest = runtime.latest
        if runtime.paused or not runtime.source_ok or latest is None:
            self.video.clear()
            self.video.setText("privacy pause" if runtime.paused else runtime.status)
            self.au_bars.set_values(None)
            return
        self.au_bars.set_values(latest.aus)
        face = latest.face
        image = latest.image if face is None else draw_face(
            latest.image, face.box, face.landmarks, scored=latest.sample.status == FrameStatus.OK)
        pixmap = QPixmap.fromImage(bgr_to_qimage(image))
        self.video.setPixmap(pixmap.scaled(self.video.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation))

    def _model_changed(self, info: ModelInfo) -> None:
        self.au_bars.set_thresholds(info.au_thresholds)  # hidden for a model without AUs
        self._painted_version = -1
        self.refresh()

    def _load(self, bed_id: str | None) -> None:
        self.bed_id = bed_id
        self._painted_version = -1
        self._painted_samples = 0
        self._painted_spans = []
        self._painted_markers = 0
        self.curve.set_data(np.empty(0), np.empty(0))
        self.curve.set_alarm_spans([])
        self.curve.set_annotations([])
        self.refresh()

    def _beds_changed(self) -> None:
        beds = self.monitor.beds
        self.bed_combo.blockSignals(True)
        self.bed_combo.clear()
        for runtime in beds:
            self.bed_combo.addItem(runtime.config.name, runtime.bed_id)
        self.bed_combo.blockSignals(False)
        keep = self.bed_id if any(r.bed_id == self.bed_id for r in beds) else None
        if keep is None and beds:
            keep = beds[0].bed_id
        self.bed_combo.setCurrentIndex(self.bed_combo.findData(keep))
        if keep != self.bed_id:
            self._load(keep)
        else:
            self._painted_version = -1  # the name or thresholds may have changed
            self.refresh()

    def _combo_changed(self) -> None:
        bed_id = self.bed_combo.currentData()
        if bed_id != self.bed_id:
            self._load(bed_id)

    def _edit(self) -> None:
        if self.bed_id is not None:
            self.edit_requested.emit(self.bed_id)

    def _acknowledge(self) -> None:
        if self.bed_id is not None:
            self.monitor.acknowledge(self.bed_id)

    def _pause_toggled(self, paused: bool) -> None:
        if self.bed_id is not None:
            self.monitor.set_paused(self.bed_id, paused)

    def _add_note(self) -> None:
        text = self.note_edit.text().strip()
        if text:
            self.annotate(AnnotationKind.NOTE, text)
            self.note_edit.clear()
