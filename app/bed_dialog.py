"""The dialog in which a bed is added, edited or removed: name, patient (a new bed's is admitted with it; a
bed's patient then changes by Admit… / Discharge in the bed view), video source (a video file plays
once or loops), alarm settings and the video-recording opt-in. Names and labels are normalised to one line
of text as they enter."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.alarms import REALARM_RANGE_S, AlarmConfig
from app.beds import (
    MAX_NAME_LENGTH,
    MAX_PATIENT_LENGTH,
    BedConfig,
    Source,
    SourceKind,
    list_cameras,
    normalise_text,
)
from app.confirm import confirm, records_kept

SOURCE_LABELS = {SourceKind.SIMULATED: "Simulated patient", SourceKind.CAMERA: "Camera",
                 SourceKind.FILE: "Video file", SourceKind.URL: "Network stream (RTSP/HTTP)"}
VIDEO_FILTER = "Videos (*.mp4 *.mov *.avi *.mkv *.webm);;All files (*)"


class BedDialog(QDialog):
    """Edits one bed. After `accepted`, `config` is the validated bed and `remove` says whether the user
    asked to remove it instead (edit mode only, after confirming: the question says what happens to its
    records under `retention_days`). Invalid input keeps the dialog open with the reason shown.
    """

    def __init__(self, parent: QWidget | None = None, config: BedConfig | None = None,
                 other_names: Iterable[str] = (), *, retention_days: int = 0) -> None:
        super().__init__(parent)
        self.retention_days = retention_days
        self.setWindowTitle("Edit bed" if config else "Add bed")
        self.original = config
        self.other_names = {normalise_text(name).casefold() for name in other_names}
        self.config: BedConfig | None = None
        self.remove = False
        alarms = config.alarms if config else AlarmConfig()

        self.name_edit = QLineEdit(config.name if config else "")
        self.name_edit.setMaxLength(MAX_NAME_LENGTH)
        self.patient_edit = QLineEdit(config.patient if config else "")
        self.patient_edit.setMaxLength(MAX_PATIENT_LENGTH)
        self.patient_edit.setPlaceholderText("optional label, e.g. initials or a study code")
        if config is not None:  # the stay's patient: admitted and discharged in the bed view
            self.patient_edit.setReadOnly(True)
            self.patient_edit.setToolTip("Admit… and Discharge in the Bed tab change the patient")

        self.kind_combo = QComboBox()
        for kind, label in SOURCE_LABELS.items():
            self.kind_combo.addItem(label, kind)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 1_000_000)
        self.camera_combo = QComboBox()
        self.camera_combo.setEditable(True)
        self.camera_refresh = QPushButton("Find cameras")
        self.camera_refresh.clicked.connect(self.find_cameras)
        self.file_edit = QLineEdit()
        self.file_browse = QPushButton("Browse…")
        self.file_browse.clicked.connect(self._browse)
        self.loop_check = QCheckBox("Loop")
        self.loop_check.setToolTip("Play the video again when it ends (otherwise the bed says 'video ended')")
        self.loop_check.setChecked(bool(config and config.loop_video))
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("rtsp://camera.local/stream or http://…")
        self.source_stack = QStackedWidget()
        for kind in SOURCE_LABELS:
            self.source_stack.addWidget(self._source_page(kind))
        self.kind_combo.currentIndexChanged.connect(self._kind_changed)

        self.threshold_spin = _spin(0.5, 5.0, 0.5, alarms.threshold, "")
        self.delay_spin = _spin(0.0, 300.0, 1.0, alarms.delay_s, " s")
        self.no_face_spin = _spin(0.0, 3600.0, 5.0, alarms.no_face_delay_s, " s")
        self.not_applicable_spin = _spin(0.0, 3600.0, 5.0, alarms.not_applicable_delay_s, " s")
        self.realarm_spin = _spin(*REALARM_RANGE_S, 10.0, alarms.realarm_after_s, " s")
        self.record_check = QCheckBox("Record video of this bed (off by default: privacy)")
        self.record_check.setChecked(bool(config and config.record_video))

        form = QFormLayout()
        form.addRow("Name", self.name_edit)
        form.addRow("Patient", self.patient_edit)
        form.addRow("Source", self.kind_combo)
        form.addRow("", self.source_stack)
        form.addRow("Pain alarm threshold (0–5)", self.threshold_spin)
        form.addRow("Pain alarm delay", self.delay_spin)
        form.addRow("No-face alarm after", self.no_face_spin)
        form.addRow("Model-not-applicable alarm after", self.not_applicable_spin)
        form.addRow("Re-alarm after acknowledging", self.realarm_spin)
        form.addRow("", self.record_check)
        self.error_label = QLabel("")
        self.error_label.setStyleSheet("color: #ff6e6e;")
        self.error_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.remove_button = QPushButton("Remove bed")
        self.remove_button.clicked.connect(self._remove)
        self.buttons.addButton(self.remove_button, QDialogButtonBox.ButtonRole.DestructiveRole)
        self.remove_button.setVisible(config is not None)  # after adding: the box shows what it gets
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self._set_source(config.source if config else Source.simulated(seed=1))

    # -- source ---------------------------------------------------------------------------------------
    @property
    def source_kind(self) -> SourceKind:
        """The source kind selected."""
        return SourceKind(self.kind_combo.currentData())

    def set_source_kind(self, kind: SourceKind) -> None:
        """Select a source kind (as the user would in the combo box)."""
        self.kind_combo.setCurrentIndex(self.kind_combo.findData(SourceKind(kind)))

    def find_cameras(self) -> None:
        """Probe the cameras and list them (keeps what was typed when none is found)."""
        current = self.camera_combo.currentText()
        self.camera_combo.clear()
        found = list_cameras()
        self.camera_combo.addItems([str(index) for index in found])
        self.camera_combo.setToolTip(f"{len(found)} camera(s) found" if found else "no camera found")
        self.camera_combo.setCurrentText(current or (str(found[0]) if found else "0"))

    def _source_page(self, kind: SourceKind) -> QWidget:
        page = QWidget()
        row = QHBoxLayout(page)
        row.setContentsMargins(0, 0, 0, 0)
        widgets: dict[SourceKind, list[QWidget]] = {
            SourceKind.SIMULATED: [QLabel("Seed"), self.seed_spin],
            SourceKind.CAMERA: [QLabel("Index"), self.camera_combo, self.camera_refresh],
            SourceKind.FILE: [self.file_edit, self.file_browse, self.loop_check],
            SourceKind.URL: [self.url_edit]}
        for widget in widgets[kind]:
            row.addWidget(widget)
        return page

    def _set_source(self, source: Source) -> None:
        self.set_source_kind(source.kind)
        self._kind_changed()
        if source.kind is SourceKind.SIMULATED:
            self.seed_spin.setValue(source.seed)
        elif source.kind is SourceKind.CAMERA:
            self.camera_combo.setCurrentText(source.location)
        elif source.kind is SourceKind.FILE:
            self.file_edit.setText(source.location)
        else:
            self.url_edit.setText(source.location)

    def _kind_changed(self) -> None:
        kind = self.source_kind
        self.source_stack.setCurrentIndex(list(SOURCE_LABELS).index(kind))
        if kind is SourceKind.CAMERA and self.camera_combo.count() == 0:
            self.find_cameras()

    def _source(self) -> Source:
        kind = self.source_kind
        if kind is SourceKind.SIMULATED:
            return Source.simulated(self.seed_spin.value())
        location = {SourceKind.CAMERA: self.camera_combo.currentText(),
                    SourceKind.FILE: self.file_edit.text(), SourceKind.URL: self.url_edit.text()}[kind]
        return Source(kind, location.strip())

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Video file", self.file_edit.text(), VIDEO_FILTER)
        if path:
            self.file_edit.setText(path)

    # -- result ---------------------------------------------------------------------------------------
    def build_config(self) -> BedConfig:
        """The bed as entered; ValueError with a readable reason when something is invalid."""
        name = normalise_text(self.name_edit.text())
        if name.casefold() in self.other_names:
            raise ValueError(f"another bed is already called {name!r}")
        alarms = AlarmConfig(threshold=self.threshold_spin.value(), delay_s=self.delay_spin.value(),
                             no_face_delay_s=self.no_face_spin.value(),
                             not_applicable_delay_s=self.not_applicable_spin.value(),
                             realarm_after_s=self.realarm_spin.value())
        details = {"bed_id": self.original.bed_id} if self.original else {}
        source = self._source()
        return BedConfig(name, source, alarms, record_video=self.record_check.isChecked(),
                         patient=normalise_text(self.patient_edit.text()),
                         loop_video=source.kind is SourceKind.FILE and self.loop_check.isChecked(), **details)

    def accept(self) -> None:
        """Close with the validated bed, or stay open and show what is wrong."""
        try:
            self.config = self.build_config()
        except ValueError as exc:
            self.error_label.setText(str(exc))
            return
        super().accept()

    def _remove(self) -> None:
        name = self.original.name if self.original else ""
        if not confirm(self, f"Remove {name}? Monitoring and alarms stop for this bed.",
                       records_kept(self.retention_days), "Remove bed"):
            return
        self.remove = True
        self.config = self.original
        super().accept()


def _spin(low: float, high: float, step: float, value: float, suffix: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setDecimals(1)
    spin.setSuffix(suffix)
    spin.setValue(value)
    return spin
