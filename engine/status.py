"""Why a frame has a score or has none: one vocabulary for the engine, the monitor, the CSV, the record,
the views and the exports.

Only OK frames carry a score; every other status is a gap (NaN), never 0. Each status is one line below:
the value stored in files and the record, then the words people see.
"""

from __future__ import annotations

from engine.labelled import LabelledEnum


class FrameStatus(LabelledEnum):
    """The status of one analysed frame (or of a gap marker the monitor writes)."""

    # decided by the engine
    OK = "ok", "face"
    NO_FACE = "no_face", "no face"
    LOW_CONFIDENCE = "low_confidence", "face unclear"
    LOW_QUALITY = "low_quality", "low quality"  # the reason is beside it (engine.quality)
    NOT_APPLICABLE = "not_applicable", "model not applicable"  # a face unlike the model's training faces
    # known only to the monitor
    MODEL_ERROR = "model_error", "no model"
    PAUSED = "paused", "privacy pause"
    CAMERA_LOST = "camera_lost", "camera lost"
    VIDEO_ENDED = "video_ended", "video ended"  # a video file played to its end

    def words(self, reason: str = "") -> str:
        """The status as people read it, with the reason of a low quality ("low quality: too dark")."""
        return f"{self.label}: {reason}" if self is FrameStatus.LOW_QUALITY and reason else self.label
