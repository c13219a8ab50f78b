"""The ward's alarm banner: the most urgent alarm across beds, with Acknowledge and Pause audio."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from app.alarms import AUDIO_PAUSE_S, AlarmSignal
from app.widgets.flash import AlarmFlasher, alarm_stylesheet


@dataclass(frozen=True)
class BannerAlarm:
    """One bed's alarm as the banner lists it; `can_acknowledge` for an unacknowledged pain alarm."""

    bed_id: str
    bed_name: str
    signal: AlarmSignal
    can_acknowledge: bool


class AlarmBanner(QFrame):
    """Shows the highest-priority alarm (unacknowledged first) in its colour, steady or flashing, and how
    many more there are; hidden when there are none. Buttons emit `acknowledge_requested(bed_id)` and
    `audio_pause_requested()`."""

    acknowledge_requested = Signal(str)
    audio_pause_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alarmBanner")
        self.text_label = QLabel("")
        self.text_label.setStyleSheet("font-size: 14pt; font-weight: bold;")
        self.more_label = QLabel("")
        self.acknowledge_button = QPushButton("Acknowledge")
        self.audio_pause_button = QPushButton(f"Pause audio {AUDIO_PAUSE_S / 60:g} min")
        layout = QHBoxLayout(self)
        layout.addWidget(self.text_label, 1)
        layout.addWidget(self.more_label)
        layout.addWidget(self.acknowledge_button)
        layout.addWidget(self.audio_pause_button)
        self.acknowledge_button.clicked.connect(self._acknowledge)
        self.audio_pause_button.clicked.connect(self.audio_pause_requested)
        self.flasher = AlarmFlasher(self)
        self.flasher.changed.connect(self._restyle)
        self.shown: BannerAlarm | None = None
        self._count = 0
        self.setVisible(False)

    def set_alarms(self, alarms: Sequence[BannerAlarm]) -> None:
        """Show the most urgent of the beds' current alarms (an empty list hides the banner); cheap when
        nothing changed, so it can be called on every display tick."""
        ranked = sorted(alarms, key=lambda a: (-a.signal.priority, not a.can_acknowledge))
        if (ranked[0] if ranked else None, len(ranked)) == (self.shown, self._count):
            return
        self._count = len(ranked)
        self.shown = ranked[0] if ranked else None
        self.setVisible(self.shown is not None)
        if self.shown is None:
            self.flasher.set_signal(AlarmSignal())
            return
        self.text_label.setText(f"{self.shown.bed_name}: {self.shown.signal.text}")
        self.more_label.setText(f"+{len(ranked) - 1} more" if len(ranked) > 1 else "")
        self.acknowledge_button.setEnabled(self.shown.can_acknowledge)
        self.flasher.set_signal(self.shown.signal)
        self._restyle()

    def _acknowledge(self) -> None:
        if self.shown is not None:
            self.acknowledge_requested.emit(self.shown.bed_id)

    def _restyle(self) -> None:
        self.setStyleSheet(alarm_stylesheet(self.objectName(), self.flasher))
