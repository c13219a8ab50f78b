"""One bed on the ward view: live thumbnail, big current score coloured by level (or why there is none, in
words) with the face's quality, the alarm limit, sparkline, face status and alarm colour."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QMouseEvent, QPixmap, QResizeEvent
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from app.alarms import AlarmSignal
from app.widgets.elided_label import ElidedLabel
from app.widgets.flash import AlarmFlasher, alarm_stylesheet
from app.widgets.image import fitted_qimage
from app.widgets.reading import ReadingLabels
from app.widgets.sparkline import Sparkline

THUMBNAIL_SIZE = QSize(192, 108)
"""The thumbnail's shape (16:9); it is 0.4 of the tile high. Every part of a tile scales with its height."""
REFERENCE_HEIGHT = 300
SMALLEST_SIZE = QSize(200, 110)
QUALITY_FROM_HEIGHT = 170
"""Smaller tiles leave the face quality to the bed view: their score needs the room."""
DIGITS = {"low": "#a5d6a7", "plain": "#eeeeee", "near": "#ffcc80", "over": "#ffa726"}
"""Score digit colours: pale green under 1, white, light amber within one of the alarm limit, amber at or
over it. No red: red is the high-priority alarm colour."""


def level_colour(score: float, limit: float) -> str:
    """Colour of a score's digits given the bed's alarm limit (NaN, the dash: plain)."""
    if not math.isfinite(score):
        return DIGITS["plain"]
    if score >= limit:
        return DIGITS["over"]
    if score >= limit - 1.0:
        return DIGITS["near"]
    return DIGITS["low"] if score < 1.0 else DIGITS["plain"]


class BedTile(QFrame):
    """A bed's tile. Its border takes the alarm colour; for a medium or high priority alarm its background
    shows the colour too, steady or flashing at the alarm's rate (IEC 60601-1-8); a technical (low priority)
    alarm colours the border only. Everything in it grows with the tile, from 16 beds at 1280×720 to a few on
    a 4K screen. Clicking it emits `clicked(bed_id)`."""

    clicked = Signal(str)

    def __init__(self, bed_id: str, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bed_id = bed_id
        self.setObjectName("bedTile")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setMinimumSize(SMALLEST_SIZE)  # set, so the ward's grid never asks the parts for more
        self.name_label = QLabel(name)
        self.limit_label = QLabel("")
        self.status_label = ElidedLabel()
        self.status_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.thumbnail = QLabel("no video")
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumbnail.setStyleSheet("background: #000000; color: #9e9e9e;")
        self.score_label = QLabel("—")
        self.score_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.score_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.reading = ReadingLabels()
        self.sparkline = Sparkline()
        self.alarm_label = ElidedLabel()  # one line: the banner and the alarm log have all of it
        self._score, self._limit, self._height = math.nan, 3.0, 0
        self._frame: np.ndarray | None = None
        top = QHBoxLayout()
        top.addWidget(self.name_label)
        top.addWidget(self.limit_label)
        top.addWidget(self.status_label, 1)
        score = QVBoxLayout()
        score.setSpacing(0)
        score.addWidget(self.score_label, 1)
        score.addWidget(self.reading.reason)
        score.addWidget(self.reading.quality)
        self._layout = layout = QGridLayout(self)
        layout.addLayout(top, 0, 0, 1, 2)
        layout.addWidget(self.thumbnail, 1, 0)
        layout.addLayout(score, 1, 1)
        layout.addWidget(self.sparkline, 2, 0, 1, 2)
        layout.addWidget(self.alarm_label, 3, 0, 1, 2)
        self.flasher = AlarmFlasher(self, fill_low=False)
        self.flasher.changed.connect(self._restyle)
        self._fit(REFERENCE_HEIGHT)
        self._restyle()

    def set_name(self, name: str) -> None:
        """Rename the bed."""
        self.name_label.setText(name)

    def set_frame(self, frame: np.ndarray | None) -> None:
        """Show the newest BGR frame scaled into the thumbnail; None shows 'no video'."""
        self._frame = frame
        if frame is None:
            self.thumbnail.clear()
            self.thumbnail.setText("no video")
            return
        size = self.thumbnail.size()
        self.thumbnail.setPixmap(QPixmap.fromImage(fitted_qimage(frame, size.width(), size.height())))

    def set_score(self, score: float) -> None:
        """Show the current score, coloured by its level; NaN (no face, no camera) shows a dash, never 0."""
        self.score_label.setText(f"{score:.1f}" if math.isfinite(score) else "—")
        shown = level_colour(self._score, self._limit)
        self._score = score
        if level_colour(score, self._limit) != shown:
            self._style_score()

    def set_limit(self, limit: float) -> None:
        """Show the bed's pain alarm limit (and colour the score against it)."""
        if limit != self._limit or not self.limit_label.text():
            self._limit = limit
            self.limit_label.setText(f"alarm ≥ {limit:.1f}")
            self._style_score()

    def set_reading(self, reason: str, quality: float) -> None:
        """Say why there is no score ("" when there is one) and show the face's quality (NaN: none)."""
        self.reading.show(reason, quality)

    def set_status(self, text: str) -> None:
        """Show the face / source status ('face', 'no face', 'camera lost', 'paused', …)."""
        self.status_label.set_full_text(text)

    def set_history(self, t: np.ndarray, score: np.ndarray) -> None:
        """Feed the sparkline (it shows the last minutes)."""
        self.sparkline.set_data(t, score)

    def set_alarm(self, signal: AlarmSignal) -> None:
        """Show a bed's alarm signal: colour, steady or flashing, and its text (cheap when unchanged, so
        it can be called on every display tick)."""
        if signal == self.flasher.signal:
            return
        self.flasher.set_signal(signal)
        self._restyle()
        self.alarm_label.set_full_text(signal.text)

    @property
    def alarm_signal(self) -> AlarmSignal:
        """The alarm signal shown."""
        return self.flasher.signal

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        """Emit `clicked` for a left click on the tile."""
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(event.position().toPoint()):
            self.clicked.emit(self.bed_id)
        super().mouseReleaseEvent(event)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt override)
        """No: the ward's grid sizes the tiles, and a wrapped line of text in one (its reason) must not make
        every row as tall as that tile would like."""
        return False

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        """The same for every tile, whatever it shows now, so the ward's grid gives them equal room."""
        return QSize(round(1.6 * REFERENCE_HEIGHT), REFERENCE_HEIGHT)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        """Scale the tile's parts to its new height."""
        super().resizeEvent(event)
        self._fit(event.size().height())

    def _fit(self, height: int) -> None:
        """Size thumbnail, digits, text and sparkline for a tile `height` pixels high."""
        height = max(SMALLEST_SIZE.height(), height)
        if height != self._height:
            self._height = height
            scale = height / REFERENCE_HEIGHT
            self.thumbnail.setFixedSize(THUMBNAIL_SIZE * (0.4 * height / THUMBNAIL_SIZE.height()))
            self.sparkline.setFixedHeight(round(0.17 * height))
            self._layout.setContentsMargins(*[max(3, round(9 * scale))] * 4)
            self._layout.setSpacing(max(2, round(6 * scale)))
            text = f"font-size: {max(10, round(0.042 * height))}px;"
            for label in (self.limit_label, self.status_label, self.alarm_label):
                label.setStyleSheet(text)
            name_px = max(12, round(0.066 * height))
            self.name_label.setStyleSheet(f"font-size: {name_px}px; font-weight: bold;")
            self.reading.set_font_px(max(10, round(0.05 * height)))
            self.reading.quality.setVisible(height >= QUALITY_FROM_HEIGHT)
            self._style_score()
            self.set_frame(self._frame)

    def _style_score(self) -> None:
        style = f"font-size: {round(0.2 * self._height)}px; font-weight: bold;"
        if not self.flasher.colours_background:  # on an alarm colour the digits take its text colour
            style += f" color: {level_colour(self._score, self._limit)};"
        self.score_label.setStyleSheet(style)

    def _restyle(self) -> None:
        self.setStyleSheet(alarm_stylesheet(self.objectName(), self.flasher))
        self.reading.set_on_alarm_colour(self.flasher.colours_background)
        self._style_score()
