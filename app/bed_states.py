"""What a nurse sees of the monitor's timed and informational states (no Qt): the audio-paused countdown,
the privacy pause as a timed standby that reminds before monitoring resumes on its own, and the words of a
video file that played to its end."""

from __future__ import annotations

import math
from dataclasses import dataclass

REMIND_BEFORE_S = 60.0
"""A privacy pause says that monitoring resumes soon for this long before it does."""
VIDEO_ENDED = "video ended"
"""What a bed whose video file played to its end says (an informational state, not an alarm)."""


def countdown(seconds: float) -> str:
    """Time left as m:ss, rounded up (so 0:00 only once it is over), never negative."""
    whole = max(0, math.ceil(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def audio_paused_text(left_s: float) -> str:
    """The audio-paused indication's words with the time left ("Audio paused 1:45")."""
    return f"Audio paused {countdown(left_s)}"


@dataclass(frozen=True)
class PrivacyPause:
    """A timed privacy standby of one bed: monitoring resumes on its own at `until` (wall-clock seconds)."""

    until: float

    def left(self, now: float) -> float:
        """Seconds until monitoring resumes (0 once it is due)."""
        return max(0.0, self.until - now)

    def over(self, now: float) -> bool:
        """True once monitoring is due to resume."""
        return now >= self.until

    def reminding(self, now: float) -> bool:
        """True in the last `REMIND_BEFORE_S` before monitoring resumes."""
        return self.left(now) <= REMIND_BEFORE_S

    def text(self, now: float) -> str:
        """The bed's status: "privacy pause — resumes in 12:34", "privacy pause ending — …" near its end."""
        words = "privacy pause ending" if self.reminding(now) else "privacy pause"
        return f"{words} — resumes in {countdown(self.left(now))}"
