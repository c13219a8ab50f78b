"""Analysis of a recorded video for replay: per-frame results, computed on a background thread, cached.

A video is analysed once per (video bytes, model file, settings): the results are kept in painmon's cache
folder under `replay/` as the per-frame CSV of `painmon analyze` (engine.frame_csv) plus a small JSON file
that describes the video and the model. Opening the same video again with the same model loads them at once.

`analyze_video` does the work (no Qt); `AnalysisJob` runs it on a QThread with progress and cancellation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from PySide6.QtCore import QObject, QThread, Signal, Slot

from engine.analyze import resolve_model
from engine.backends import Backend
from engine.errors import PainmonError, VideoSourceError
from engine.files import file_sha256, replacing, write_atomically
from engine.frame_csv import FORMAT_VERSION, FrameTable, ResultCsvWriter
from engine.model_card import ModelCard, read_au_thresholds, read_card
from engine.paths import cache_dir
from engine.sources import VideoSource, open_source

if TYPE_CHECKING:
    from engine.pipeline import Pipeline  # imported when needed: it loads torch and MTCNN

CACHE_FORMAT = 1
"""Bump when the cached files change meaning; older entries are then analysed afresh."""
PROGRESS_INTERVAL_S = 0.1
"""Progress is reported at most this often."""


class AnalysisCancelledError(PainmonError):
    """The user stopped the analysis before it finished."""


@dataclass(frozen=True)
class AnalysisSettings:
    """Which model analyses a video, and how. Only `checkpoint` and `smoothing_s` change the results;
    backend and device change only the speed, so they are not part of the cache key."""

    checkpoint: Path | None = None  # None: the bundled demo model
    backend: str = Backend.AUTO
    device: str | None = None
    smoothing_s: float = 0.0


@dataclass(frozen=True)
class VideoAnalysis:
    """A video and its per-frame results with the model that produced them."""

    video: Path
    video_sha256: str
    fps: float
    size: tuple[int, int]
    table: FrameTable
    checkpoint: Path
    checkpoint_sha256: str
    card: ModelCard
    early_end: str | None = None  # why the video ended before its end (damaged), None when complete
    from_cache: bool = False
    au_thresholds: dict[int, float] = dataclasses.field(default_factory=dict)  # the model's; empty: no AUs


Progress = Callable[[int, int], None]
"""Called with (frames done, frames in all); (0, 0) while the video is being hashed."""


def cache_key(video_sha256: str, checkpoint_sha256: str, smoothing_s: float) -> str:
    """Cache entry name for a video analysed by a model with settings that change the results."""
    fields = [CACHE_FORMAT, FORMAT_VERSION, video_sha256, checkpoint_sha256, round(float(smoothing_s), 6)]
    text = json.dumps(fields)
    return hashlib.sha256(text.encode()).hexdigest()


def _cache_files(key: str) -> tuple[Path, Path]:
    folder = cache_dir("replay")
    return folder / f"{key}.csv", folder / f"{key}.json"


def _load_cached(key: str, video: Path, checkpoint: Path, card: ModelCard) -> VideoAnalysis | None:
    """The cached analysis, or None when there is none (or it is unreadable: it is then redone)."""
    try:
        table_path, meta_path = _cache_files(key)
        meta = json.loads(meta_path.read_text())
        table = FrameTable.read_csv(table_path)
        return VideoAnalysis(video, meta["video_sha256"], float(meta["fps"]), tuple(meta["size"]), table,
                             checkpoint, meta["checkpoint_sha256"], card, meta["early_end"], from_cache=True,
                             au_thresholds=read_au_thresholds(checkpoint))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _analyse_into(handle: TextIO, pipeline: Pipeline, source: VideoSource, report: Progress,
                  stop: Callable[[], bool]) -> None:
    """Run the pipeline over the source, writing the per-frame CSV (the cache entry) as results come."""
    writer = ResultCsvWriter(handle, pipeline.scorer.predictor.aus)
    total = source.frame_count or 0
    reported = time.monotonic()
    for done, result in enumerate(pipeline.run(source), start=1):
        if stop():
            name = Path(source.name).name
            raise AnalysisCancelledError(f"analysis of {name} stopped after {done - 1} frames")
        writer.write(result)
        if time.monotonic() - reported >= PROGRESS_INTERVAL_S:
            report(done, max(total, done))
            reported = time.monotonic()
    if source.frames_read == 0:
        raise VideoSourceError(source.early_end or f"{source.name}: no frame could be decoded")
    report(source.frames_read, source.frames_read)


def analyze_video(video: str | Path, settings: AnalysisSettings, progress: Progress | None = None,
                  cancelled: Callable[[], bool] | None = None) -> VideoAnalysis:
    """Per-frame results of a recorded video, from the cache when this video was analysed before with the
    same model and settings, else by running the engine pipeline (which writes the cache entry).

    Raises VideoSourceError / ModelFileError / BackendUnavailableError for bad input, PainmonError when
    the cache folder cannot be written, and AnalysisCancelledError when `cancelled()` turns true. A damaged
    video is analysed up to the damage; `early_end` says why.
    """
    video = Path(video)
    report = progress or (lambda done, total: None)
    stop = cancelled or (lambda: False)
    checkpoint = resolve_model(None if settings.checkpoint is None else str(settings.checkpoint))
    card = read_card(checkpoint)
    report(0, 0)
    with open_source(video) as source:  # clear errors for missing or unreadable files before hashing
        if source.is_live:
            raise VideoSourceError(f"{video} has no known length; replay takes a recorded video file")
        video_sha = file_sha256(video)
        checkpoint_sha = file_sha256(checkpoint)
        key = cache_key(video_sha, checkpoint_sha, settings.smoothing_s)
        cached = _load_cached(key, video, checkpoint, card)
        if cached is not None:
            report(len(cached.table), len(cached.table))
            return cached
        from engine.pipeline import Pipeline  # torch and MTCNN load only when there is work to do

        pipeline = Pipeline.from_checkpoint(checkpoint, settings.backend, settings.device,
                                            smoothing_s=settings.smoothing_s)
        try:
            table_path, meta_path = _cache_files(key)
            with replacing(table_path, private=True) as scratch, scratch.open("w", newline="") as out:
                _analyse_into(out, pipeline, source, report, stop)
            meta = {"video": video.name, "video_sha256": video_sha, "fps": source.fps or 30.0,
                    "size": list(source.size), "checkpoint_sha256": checkpoint_sha,
                    "early_end": source.early_end}
            write_atomically(meta_path, json.dumps(meta), private=True)  # last: marks the entry complete
        except OSError as error:
            where = error.filename or "the cache folder"
            raise PainmonError(f"cannot write the analysis to {where}: {error.strerror or error}") from error
    analysis = _load_cached(key, video, checkpoint, card)
    if analysis is None:
        raise PainmonError(f"the analysis of {video.name} cannot be read back from {table_path}")
    return dataclasses.replace(analysis, from_cache=False)


class _Worker(QObject):
    progress = Signal(int, int)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, video: Path, settings: AnalysisSettings) -> None:
        super().__init__()
        self.video = video
        self.settings = settings
        self.stop = False

    @Slot()
    def run(self) -> None:
        try:
            analysis = analyze_video(self.video, self.settings, self.progress.emit, lambda: self.stop)
        except PainmonError as error:
            self.failed.emit(str(error))
        except Exception as error:  # the GUI shows one line; it must never lose the thread silently
            name = type(error).__name__
            self.failed.emit(f"internal error while analysing {self.video.name}: {name}: {error}")
        else:
            self.finished.emit(analysis)


class AnalysisJob(QObject):
    """Analyses one video on its own thread.

    Signals: `progress(done, total)` ((0, 0) while hashing), then exactly one of `finished(VideoAnalysis)`
    and `failed(message)` (also after `cancel()`)."""

    progress = Signal(int, int)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, video: str | Path, settings: AnalysisSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.video = Path(video)
        self._thread = QThread()
        self._worker = _Worker(self.video, settings)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progress.connect(self.progress)
        self._worker.finished.connect(self.finished)
        self._worker.failed.connect(self.failed)
        for signal in (self._worker.finished, self._worker.failed):
            signal.connect(self._thread.quit)

    def start(self) -> None:
        """Begin the analysis."""
        self._thread.start()

    def cancel(self) -> None:
        """Ask the analysis to stop after the current frame; `failed` follows."""
        self._worker.stop = True

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until the thread has ended (after `cancel`, when closing); False on timeout."""
        return self._thread.wait(timeout_ms)
