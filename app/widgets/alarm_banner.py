"""The ward's alarm banner: the most urgent alarm across beds, with Acknowledge and Pause audio, and the
audio-paused indication while audio is paused."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from app.alarms import AUDIO_PAUSE_S, AlarmSignal, Priority
from app.bed_states import audio_paused_text
from app.widgets.flash import NEUTRAL_TEXT, AlarmFlasher, alarm_stylesheet

NO_ALARMS = "No alarms"
ICON_SIZE = 22


@dataclass(frozen=True)
class BannerAlarm:
    """One bed's alarm as the banner lists it; `can_acknowledge` for an unacknowledged pain alarm."""

    bed_id: str
    bed_name: str
    signal: AlarmSignal
    can_acknowledge: bool


def crossed_bell(size: int, colour: str) -> QPixmap:
    """The IEC 60417-5319 'alarm / audio paused' symbol: a bell struck through, `size` px square."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.scale(size / 24.0, size / 24.0)  # drawn on a 24-unit grid
    painter.setPen(QPen(QColor(colour), 2.0, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    bell = QPainterPath(QPointF(5, 17))
    bell.lineTo(19, 17)
    bell.cubicTo(17, 15, 17, 13, 17, 10)
    bell.cubicTo(17, 4, 7, 4, 7, 10)
    bell.cubicTo(7, 13, 7, 15, 5, 17)
    painter.drawPath(bell)
    painter.drawArc(QRectF(10, 17, 4, 4), 180 * 16, 180 * 16)  # the clapper
    painter.drawLine(QPointF(3, 21), QPointF(21, 3))
    painter.end()
    return pixmap


class AlarmBanner(QFrame):
    """Shows the highest-priority alarm (unacknowledged first) in its colour, steady or flashing, and how
    many more there are; "No alarms" on neutral with its buttons disabled when there are none. It keeps its
    place and height whatever it shows, so nothing under it moves when an alarm comes. While audio is
    paused it and the Pause audio button show the audio-paused indication (a crossed bell) with the time
    left. Buttons emit `acknowledge_requested(bed_id)` and `audio_pause_requested()` (which ends a
    running pause)."""

    acknowledge_requested = Signal(str)
    audio_pause_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alarmBanner")
        self.text_label = QLabel(NO_ALARMS)
        self.text_label.setStyleSheet("font-size: 14pt; font-weight: bold;")
        # a long alarm text is cut (whole in its tooltip), never widening the window past the screen
        self.text_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.more_label = QLabel("")
        self.audio_icon = QLabel()
        self.audio_text = QLabel("")
        self.audio_text.setStyleSheet("font-weight: bold;")
        self.acknowledge_button = QPushButton("Acknowledge")
        self.pause_label = f"Pause audio {AUDIO_PAUSE_S / 60:g} min"
        self.audio_pause_button = QPushButton(self.pause_label)
        layout = QHBoxLayout(self)
        for widget in (self.text_label, self.more_label, self.audio_icon, self.audio_text,
                       self.acknowledge_button, self.audio_pause_button):
            layout.addWidget(widget, 1 if widget is self.text_label else 0)
        self.acknowledge_button.clicked.connect(self._acknowledge)
        self.audio_pause_button.clicked.connect(self.audio_pause_requested)
        self.flasher = AlarmFlasher(self)
        self.flasher.changed.connect(self._restyle)
        self.shown: BannerAlarm | None = None
        self._count = 0
        self._reserve_room()
        self._show_none()

    def set_alarms(self, alarms: Sequence[BannerAlarm]) -> None:
        """Show the most urgent of the beds' current alarms ("No alarms" for an empty list); cheap when
        nothing changed, so it can be called on every display tick."""
        ranked = sorted(alarms, key=lambda a: (-a.signal.priority, not a.can_acknowledge))
        if (ranked[0] if ranked else None, len(ranked)) == (self.shown, self._count):
            return
        self._count = len(ranked)
        self.shown = ranked[0] if ranked else None
        if self.shown is None:
            self._show_none()
            return
        self.text_label.setText(f"{self.shown.bed_name}: {self.shown.signal.text}")
        self.text_label.setToolTip(self.text_label.text())
        self.more_label.setText(f"+{len(ranked) - 1} more" if len(ranked) > 1 else "")
        self.acknowledge_button.setEnabled(self.shown.can_acknowledge)
        self.audio_pause_button.setEnabled(True)
        self.flasher.set_signal(self.shown.signal)
        self._restyle()

    def set_audio_pause(self, left_s: float) -> None:
        """Show the audio-paused indication with `left_s` seconds left, or none at 0; cheap when the
        countdown shown has not changed, so it can be called on every display tick."""
        text = audio_paused_text(left_s) if left_s > 0 else ""
        if text != self.audio_text.text():
            self._show_audio_pause(text)

    def _show_audio_pause(self, text: str) -> None:
        self.audio_text.setText(text)
        self.audio_icon.setVisible(bool(text))
        self.audio_text.setVisible(bool(text))
        self.audio_pause_button.setText(text or self.pause_label)
        self.audio_pause_button.setIcon(QIcon(crossed_bell(ICON_SIZE, NEUTRAL_TEXT)) if text else QIcon())

    def _show_none(self) -> None:
        self.text_label.setText(NO_ALARMS)
        self.text_label.setToolTip("")
        self.more_label.setText("")
        self.acknowledge_button.setEnabled(False)
        self.audio_pause_button.setEnabled(False)
        self.flasher.set_signal(AlarmSignal())
        self._restyle()

    def _reserve_room(self) -> None:
        """Fix the height at the tallest the banner gets (an alarm's thick border) and the Pause audio
        button's width at its widest text, so that nothing moves when an alarm or a pause comes."""
        widths = []
        for text in (audio_paused_text(599), ""):  # the longest countdown, then audio on
            self._show_audio_pause(text)
            widths.append(self.audio_pause_button.sizeHint().width())
        self.audio_pause_button.setMinimumWidth(max(widths))
        self.flasher.set_signal(AlarmSignal(Priority.HIGH, False, NO_ALARMS))
        self._restyle()
        self.setFixedHeight(self.sizeHint().height())

    def _acknowledge(self) -> None:
        if self.shown is not None:
            self.acknowledge_requested.emit(self.shown.bed_id)

    def _restyle(self) -> None:
        self.setStyleSheet(alarm_stylesheet(self.objectName(), self.flasher))
        colour = self.flasher.signal.text_colour if self.flasher.colours_background else NEUTRAL_TEXT
        self.audio_icon.setPixmap(crossed_bell(ICON_SIZE, colour or NEUTRAL_TEXT))
