"""Alarm colours on screen: flashing in step across every widget at the IEC 60601-1-8 rate of the priority."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import SIGNAL, QCoreApplication, QObject, Qt, QTimer, Signal

from app.alarms import AlarmSignal, Priority

NEUTRAL_BACKGROUND = "#1e1e1e"
NEUTRAL_TEXT = "#e0e0e0"
NEUTRAL_BORDER = "#3a3a3a"


class FlashClock(QObject):
    """One shared on/off clock per flash rate, so every widget flashing at that rate flashes in step.

    It starts (in its 'on' phase) when the first listener connects and stops when Qt has disconnected the
    last one. Use `FlashClock.for_rate(hz)`.
    """

    toggled = Signal(bool)
    _clocks: dict[float, FlashClock] = {}  # noqa: RUF012 (registry shared by the class)

    def __init__(self, hz: float) -> None:
        super().__init__(QCoreApplication.instance())
        self.hz = hz
        self.on = True
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(round(1000.0 / (2.0 * hz)))  # 50 % duty cycle
        self._timer.timeout.connect(self._toggle)

    @classmethod
    def for_rate(cls, hz: float) -> FlashClock:
        """The clock of a flash rate in Hz (created on first use)."""
        clock = cls._clocks.get(hz)
        if clock is None:
            clock = cls._clocks[hz] = cls(hz)
        return clock

    @property
    def interval_ms(self) -> int:
        """Time between toggles: half a flash period."""
        return self._timer.interval()

    def subscribe(self, slot: Callable[[bool], None]) -> None:
        """Connect a QObject's slot to `toggled`, starting the clock if it was idle."""
        self.toggled.connect(slot)
        if not self._timer.isActive():
            self.on = True
            self._timer.start()

    def _toggle(self) -> None:
        if self.receivers(SIGNAL("toggled(bool)")) == 0:
            self._timer.stop()
            return
        self.on = not self.on
        self.toggled.emit(self.on)


class AlarmFlasher(QObject):
    """Whether a widget shows its alarm colour right now: always for a steady signal, never without an
    alarm, alternating at the priority's rate for a flashing one. Emits `changed` when that flips."""

    changed = Signal(bool)

    def __init__(self, parent: QObject | None = None, *, fill_low: bool = True) -> None:
        super().__init__(parent)
        self.signal = AlarmSignal()
        self.fill_low = fill_low
        self._clock: FlashClock | None = None
        self.on = False

    @property
    def interval_ms(self) -> int:
        """Time between toggles, 0 when not flashing."""
        return self._clock.interval_ms if self._clock else 0

    @property
    def colours_background(self) -> bool:
        """Whether the alarm colour fills the background now (and its text colour the text). Without
        `fill_low`, a low-priority (technical) alarm colours only the border: many tiles in steady cyan must
        not outshout one flashing pain alarm."""
        if not self.fill_low and self.signal.priority <= Priority.LOW:
            return False
        return self.on and bool(self.signal.colour and self.signal.text_colour)

    def set_signal(self, signal: AlarmSignal) -> None:
        """Follow a new alarm signal (flashing keeps its phase if the rate does not change)."""
        self.signal = signal
        hz = signal.flash_hz
        if self._clock is not None and self._clock.hz != hz:
            self._clock.toggled.disconnect(self._set_on)
            self._clock = None
        if hz and self._clock is None:
            self._clock = FlashClock.for_rate(hz)
            self._clock.subscribe(self._set_on)
        self._set_on(self._clock.on if self._clock else signal.colour is not None)

    def _set_on(self, on: bool) -> None:
        if on != self.on:
            self.on = on
            self.changed.emit(on)


def alarm_stylesheet(object_name: str, flasher: AlarmFlasher) -> str:
    """Style sheet of a QFrame (by object name) showing a flasher's alarm: a thick border in the alarm
    colour, and the background in that colour while the flasher is on; neutral dark without an alarm."""
    signal = flasher.signal
    border, width = (signal.colour, 6) if signal.colour else (NEUTRAL_BORDER, 2)
    background, text = NEUTRAL_BACKGROUND, NEUTRAL_TEXT
    if flasher.colours_background and signal.colour and signal.text_colour:
        background, text = signal.colour, signal.text_colour
    return (f"QFrame#{object_name} {{ background: {background}; border: {width}px solid {border};"
            f" border-radius: 6px; }} QFrame#{object_name} QLabel {{ color: {text}; }}")
