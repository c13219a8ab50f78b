"""The audible alarm signal: a medium-priority burst of three tones, repeated while an alarm is audible.

IEC 60601-1-8 gives medium priority a 3-pulse burst repeated every 2.5–30 s. The burst is a small WAV file
played with QtMultimedia's QSoundEffect; where QtMultimedia cannot load (no audio libraries), the system
beep is used instead.
"""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, QUrl
from PySide6.QtWidgets import QApplication

from engine.paths import cache_dir

BURST_EVERY_MS = 5000
SAMPLE_RATE = 22050
PULSE = (0.15, 0.1)  # seconds on, seconds off
PITCH_HZ = 660.0


def write_burst(path: Path) -> Path:
    """Write the 3-pulse burst as 16-bit mono WAV (each pulse ramps in and out to avoid clicks)."""
    on, off = (round(s * SAMPLE_RATE) for s in PULSE)
    ramp = round(0.01 * SAMPLE_RATE)
    frames = bytearray()
    for _ in range(3):
        for i in range(on):
            gain = min(1.0, i / ramp, (on - i) / ramp)
            value = 0.5 * gain * math.sin(2 * math.pi * PITCH_HZ * i / SAMPLE_RATE)
            frames += struct.pack("<h", round(32767 * value))
        frames += bytes(2 * off)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(bytes(frames))
    return path


class AlarmTone(QObject):
    """Plays the burst at once when switched on, then every BURST_EVERY_MS until switched off."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.active = False
        self.bursts = 0
        self._timer = QTimer(self)
        self._timer.setInterval(BURST_EVERY_MS)
        self._timer.timeout.connect(self._play)
        self._effect = None
        try:
            from PySide6.QtMultimedia import QSoundEffect
        except ImportError:  # no audio libraries on this machine: fall back to the system beep
            return
        self._effect = QSoundEffect(self)
        self._effect.setSource(QUrl.fromLocalFile(str(write_burst(cache_dir() / "alarm_medium.wav"))))

    def set_active(self, active: bool) -> None:
        """Sound (True) or silence (False) the alarm; cheap when unchanged."""
        if active == self.active:
            return
        self.active = active
        if active:
            self._play()
            self._timer.start()
        else:
            self._timer.stop()
            if self._effect is not None:
                self._effect.stop()

    def _play(self) -> None:
        self.bursts += 1
        if self._effect is not None:
            self._effect.play()
        else:
            QApplication.beep()
