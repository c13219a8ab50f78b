"""Replay's own widgets: the video frame scaled to fit, and the dialog that picks a past stay or session."""

from __future__ import annotations

import time

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

from app.export import format_time
from app.record import Session, Stay
from app.widgets.image import bgr_to_qimage

STAY, SESSION = "stay", "session"
"""What the session dialog's choice is."""


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


def describe_stay(stay: Stay) -> str:
    """A stay as the session dialog lists it: patient, bed, admitted, discharged or "open", length."""
    end = stay.discharged_at
    length = _length((end if end is not None else time.time()) - stay.admitted_at)
    return (f"{stay.patient or 'unnamed patient'} · {stay.bed_name} · admitted "
            f"{format_time(stay.admitted_at, True)} · "
            f"{'discharged ' + format_time(end, True) if end is not None else 'open'} · {length}")


def describe_session(session: Session) -> str:
    """A session as the session dialog lists it: bed, patient, start, length."""
    length = _length((session.ended_at or session.started_at) - session.started_at)
    return (f"{session.bed_name} · {session.patient or 'no patient'} · "
            f"{format_time(session.started_at, True)} · {length}")


def _length(seconds: float) -> str:
    hours, minutes = divmod(round(max(0.0, seconds) / 60), 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


class SessionDialog(QDialog):
    """Pick a patient's stay (listed first) or a single past session of the record: each given as (id,
    description)."""

    def __init__(self, stays: list[tuple[int, str]], sessions: list[tuple[int, str]],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open a stay or a past session")
        self.list = QListWidget()
        for kind, heading, rows in ((STAY, "Stays", stays), (SESSION, "Sessions", sessions)):
            if not rows:
                continue
            title = QListWidgetItem(heading)
            title.setFlags(Qt.ItemFlag.NoItemFlags)  # a heading, not a choice
            self.list.addItem(title)
            for number, text in rows:
                item = QListWidgetItem(f"  {text}")
                item.setData(Qt.ItemDataRole.UserRole, (kind, number))
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
        self.resize(640, 400)

    def choice(self) -> tuple[str, int] | None:
        """The chosen stay or session: (STAY or SESSION, its id)."""
        item = self.list.currentItem()
        data = None if item is None else item.data(Qt.ItemDataRole.UserRole)
        return None if data is None else (str(data[0]), int(data[1]))
