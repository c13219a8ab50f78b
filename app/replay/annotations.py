"""Annotations made while replaying a video: kept per video, by its hash, in the user's data folder (a
session's annotations go into the record instead). No Qt."""

from __future__ import annotations

import json
from pathlib import Path

from app.record import Annotation, AnnotationKind
from engine.errors import PainmonError
from engine.files import write_atomically
from engine.paths import data_dir


def _video_annotations_path(video_sha256: str) -> Path:
    return data_dir("replay-annotations") / f"{video_sha256}.json"


def load_video_annotations(video_sha256: str) -> list[Annotation]:
    """Annotations made while replaying this video (kept by the video's hash), oldest first."""
    path = _video_annotations_path(video_sha256)
    if not path.exists():
        return []
    try:
        rows = json.loads(path.read_text())
        return [Annotation(i + 1, float(r["t"]), AnnotationKind(r["kind"]), str(r["text"]))
                for i, r in enumerate(rows)]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise PainmonError(f"cannot read the annotations of this video ({path}): {error}") from error


def save_video_annotations(video_sha256: str, annotations: list[Annotation]) -> None:
    """Keep the annotations of a video (written atomically)."""
    rows = [{"t": a.t, "kind": str(a.kind), "text": a.text} for a in annotations]
    write_atomically(_video_annotations_path(video_sha256), json.dumps(rows), private=True)
