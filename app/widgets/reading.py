"""Beside a live score: why there is none, in words, and how good the face seen is (engine.quality)."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

QUALITY_COLOURS = ((0.75, "#8bc34a"), (0.5, "#ffb300"), (0.0, "#ff6e6e"))
"""Colour of the quality figure from each lower bound up: good, borderline, too low to score."""


class ReadingLabels:
    """Two labels to place under a score: `reason` (why there is no score: no face, low quality and why,
    model not applicable, privacy pause, camera lost, no model; empty while there is a score) and `quality`
    (the face's quality in percent, coloured; empty without a face)."""

    def __init__(self) -> None:
        self.reason = QLabel("")
        self.reason.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.reason.setWordWrap(True)
        self.quality = QLabel("")
        self.quality.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._quality_colour = QUALITY_COLOURS[0][1]
        self._on_alarm_colour = False
        self._font_px = 16
        self._restyle()

    def show(self, reason: str, quality: float) -> None:
        """Say why there is no score ("" when there is one) and show the face's quality (NaN: no face)."""
        self.reason.setText(reason)
        self.reason.setVisible(bool(reason))
        if math.isnan(quality):
            self.quality.setText("")
            return
        self.quality.setText(f"face quality {100 * quality:.0f} %")
        colour = next(colour for bound, colour in QUALITY_COLOURS if quality >= bound)
        if colour != self._quality_colour:
            self._quality_colour = colour
            self._restyle()

    def set_on_alarm_colour(self, on: bool) -> None:
        """While the background shows an alarm colour both labels take the alarm's text colour (grey and the
        quality colours cannot be read on it); otherwise their own colours."""
        if on != self._on_alarm_colour:
            self._on_alarm_colour = on
            self._restyle()

    def set_font_px(self, px: int) -> None:
        """Size the reason's text (the quality's is three quarters of it)."""
        if px != self._font_px:
            self._font_px = px
            self._restyle()

    def _restyle(self) -> None:
        inherit = self._on_alarm_colour
        self.reason.setStyleSheet(f"font-size: {self._font_px}px;" + ("" if inherit else " color: #bdbdbd;"))
        self.quality.setStyleSheet(f"font-size: {round(0.75 * self._font_px)}px;"
                                   + ("" if inherit else f" color: {self._quality_colour};"))
