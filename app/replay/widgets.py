"""Replay's own widgets: the video frame scaled to fit, and the dialog that picks a past session."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.widgets.image import bgr_to_qimage


class FrameView(QLabel):
    """Shows a video frame scaled to fit, keeping its aspect ratio."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(160, 90)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setStyleSheet("background: black; color: #bbbbbb;")
        self._pixmap = QPixmap()

    def show_frame(self, frame: np.ndarray | None, message: str = "") -> None:
        """Show a BGR frame, or `message` on black when there is none."""
        if frame is None:
            self._pixmap = QPixmap()
            self.setText(message)  # also clears the pixmap shown
            return
        self._pixmap = QPixmap.fromImage(bgr_to_qimage(frame))
        self._rescale()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if not self._pixmap.isNull():
            self.setPixmap(self._pixmap.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                               Qt.TransformationMode.SmoothTransformation))


class SessionDialog(QDialog):
    """Pick a past session of the record: bed, patient, start and length of each."""

    def __init__(self, sessions: list[tuple[int, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open a past session")
        self.list = QListWidget()
        for session_id, text in sessions:
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, session_id)
            self.list.addItem(item)
        self.list.setCurrentRow(self.list.count() - 1)
        self.list.itemDoubleClicked.connect(self.accept)
        choice = QDialogButtonBox.StandardButton
        buttons = QDialogButtonBox(choice.Open | choice.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addWidget(buttons)
        self.resize(520, 360)

    def session_id(self) -> int | None:
        """The chosen session."""
        item = self.list.currentItem()
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))
