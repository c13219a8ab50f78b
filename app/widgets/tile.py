"""One bed on the ward view: live thumbnail, big current score (or why there is none, in words) with the
face's quality, sparkline, face status and alarm colour."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QMouseEvent, QPixmap
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from app.alarms import AlarmSignal
from app.widgets.flash import AlarmFlasher, alarm_stylesheet
from app.widgets.image import bgr_to_qimage
from app.widgets.reading import ReadingLabels
from app.widgets.sparkline import Sparkline

THUMBNAIL_SIZE = QSize(192, 108)


class BedTile(QFrame):
    """A bed's tile. Its border takes the alarm colour; its background shows the colour too, steady or
    flashing at the alarm's rate (IEC 60601-1-8). Clicking it emits `clicked(bed_id)`."""

    clicked = Signal(str)

    def __init__(self, bed_id: str, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bed_id = bed_id
        self.setObjectName("bedTile")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.name_label = QLabel(name)
        self.name_label.setStyleSheet("font-size: 15pt; font-weight: bold;")
        self.status_label = QLabel("")
        self.thumbnail = QLabel("no video")
        self.thumbnail.setFixedSize(THUMBNAIL_SIZE)
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumbnail.setStyleSheet("background: #000000; color: #9e9e9e;")
        self.score_label = QLabel("—")
        self.score_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.score_label.setStyleSheet("font-size: 40pt; font-weight: bold;")
        self.score_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.reading = ReadingLabels()
        self.sparkline = Sparkline()
        self.sparkline.setFixedHeight(64)
        self.alarm_label = QLabel("")
        self.alarm_label.setWordWrap(True)
        layout = QGridLayout(self)
        layout.addWidget(self.name_label, 0, 0)
        layout.addWidget(self.status_label, 0, 1, Qt.AlignmentFlag.AlignRight)
        layout.addWidget(self.thumbnail, 1, 0)
        score = QVBoxLayout()
        score.addWidget(self.score_label, 1)
        score.addWidget(self.reading.reason)
        score.addWidget(self.reading.quality)
        layout.addLayout(score, 1, 1)
        layout.addWidget(self.sparkline, 2, 0, 1, 2)
        layout.addWidget(self.alarm_label, 3, 0, 1, 2)
        self.flasher = AlarmFlasher(self)
        self.flasher.changed.connect(self._restyle)
        self._restyle()

    def set_name(self, name: str) -> None:
        """Rename the bed."""
        self.name_label.setText(name)

    def set_frame(self, frame: np.ndarray | None) -> None:
        """Show the newest BGR frame scaled into the thumbnail; None shows 'no video'."""
        if frame is None:
            self.thumbnail.clear()
            self.thumbnail.setText("no video")
            return
        pixmap = QPixmap.fromImage(bgr_to_qimage(frame))
        self.thumbnail.setPixmap(pixmap.scaled(THUMBNAIL_SIZE, Qt.AspectRatioMode.KeepAspectRatio,
                                               Qt.TransformationMode.SmoothTransformation))

    def set_score(self, score: float) -> None:
        """Show the current score; NaN (no face, no camera) shows a dash, never 0."""
        self.score_label.setText(f"{score:.1f}" if math.isfinite(score) else "—")

    def set_reading(self, reason: str, quality: float) -> None:
        """Say why there is no score ("" when there is one) and show the face's quality (NaN: none)."""
        self.reading.show(reason, quality)

    def set_status(self, text: str) -> None:
        """Show the face / source status ('face', 'no face', 'camera lost', 'paused', …)."""
        self.status_label.setText(text)

    def set_history(self, t: np.ndarray, score: np.ndarray) -> None:
        """Feed the sparkline (it shows the last minutes)."""
        self.sparkline.set_data(t, score)

    def set_alarm(self, signal: AlarmSignal) -> None:
        """Show a bed's alarm signal: colour, steady or flashing, and its text (cheap when unchanged, so
        it can be called on every display tick)."""
        if signal == self.flasher.signal:
            return
        self.alarm_label.setText(signal.text)
        self.flasher.set_signal(signal)
        self._restyle()

    @property
    def alarm_signal(self) -> AlarmSignal:
        """The alarm signal shown."""
        return self.flasher.signal

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        """Emit `clicked` for a left click on the tile."""
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(event.position().toPoint()):
            self.clicked.emit(self.bed_id)
        super().mouseReleaseEvent(event)

    def _restyle(self) -> None:
        self.setStyleSheet(alarm_stylesheet(self.objectName(), self.flasher))
        self.reading.set_on_alarm_colour(self.flasher.colours_background)
