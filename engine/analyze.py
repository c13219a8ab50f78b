"""`painmon analyze VIDEO --out scores.csv`: score every frame of a recording and write the per-frame CSV
(engine.frame_csv; with one probability column per AU when the model has an AU head).

The CSV is written to a scratch file beside `--out` and moved over it when the run ends (engine.files), so
an existing file is never cut short before there are rows to replace it with: when the video turns out
damaged, or on Ctrl-C, the complete rows analysed so far replace it; on any other failure it is kept.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import math
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

from tqdm import tqdm

from engine import paths
from engine.applicability import UNKNOWN
from engine.errors import ModelFileError, PainmonError, VideoSourceError
from engine.files import replacing
from engine.frame_csv import ResultCsvWriter
from engine.sources import VideoSource, open_source
from engine.status import FrameStatus
from engine.types import FrameResult


class Summary:
    """Running totals for the closing report of an analysis."""

    def __init__(self) -> None:
        self.frames = 0
        self.scored = 0
        self.statuses: Counter[FrameStatus] = Counter()
        self.reasons: Counter[str] = Counter()  # why faces were of too low quality
        self.scores: list[float] = []
        self.peak: tuple[float, float] = (math.nan, math.nan)  # score, time_s
        self.started = time.perf_counter()

    def add(self, result: FrameResult) -> None:
        """Count one analysed frame."""
        self.frames += 1
        self.scored += result.status is FrameStatus.OK
        self.statuses[result.status] += 1
        if result.status is FrameStatus.LOW_QUALITY:
            self.reasons[result.quality_reason] += 1
        if not math.isnan(result.score):
            self.scores.append(result.score)
            if not result.score <= self.peak[0]:
                self.peak = (result.score, result.timestamp)

    def text(self, name: str) -> str:
        """Three short lines: throughput and faces scored, the frames of each status (with the reasons of low
        quality), then mean and peak score."""
        elapsed = time.perf_counter() - self.started
        share = 100 * self.scored / self.frames if self.frames else 0.0
        lines = [f"{name}: {self.frames} frames in {elapsed:.1f} s ({self.frames / elapsed:.1f} fps), "
                 f"scored {self.scored} ({share:.0f}%)"]
        counts = []
        for status in FrameStatus:
            if self.statuses[status]:
                reasons = ", ".join(f"{reason} {n}" for reason, n in self.reasons.most_common())
                detail = f" ({reasons})" if status is FrameStatus.LOW_QUALITY else ""
                counts.append(f"{status.label} {self.statuses[status]}{detail}")
        lines.append(f"frames by status: {'; '.join(counts) or 'none'}")
        if self.scores:
            lines.append(f"pain score (0-5): mean {sum(self.scores) / len(self.scores):.2f}, "
                         f"peak {self.peak[0]:.2f} at {self.peak[1]:.2f} s")
        else:
            lines.append("pain score: none (no usable face)")
        return "\n".join(lines)


def resolve_model(model: str | None) -> Path:
    """The checkpoint to use: the one given, else the bundled demo model."""
    if model is not None:
        return Path(model)
    if not paths.DEMO_MODEL.exists():
        raise ModelFileError(f"no --model given and the bundled demo model is missing ({paths.DEMO_MODEL})")
    return paths.DEMO_MODEL


def run(args: argparse.Namespace) -> int:
    """Handler of `painmon analyze`; returns the exit code (errors are raised for the CLI to report)."""
    if not (math.isfinite(args.smooth) and args.smooth >= 0):
        raise PainmonError(f"--smooth must be 0 (off) or a time constant in seconds, got {args.smooth}")
    out = Path(args.out)
    with open_source(args.video) as source:
        if source.is_live:
            raise VideoSourceError(f"{source.name} is a live source; analyze takes a recorded video")
        checkpoint = resolve_model(args.model)
        _check_output(out, source, checkpoint)
        from engine.pipeline import Pipeline  # torch and MTCNN load once the video is known to be readable

        pipeline = Pipeline.from_checkpoint(checkpoint, args.backend, smoothing_s=args.smooth)
        predictor = pipeline.scorer.predictor
        card = predictor.card
        print(f"model {card.name} {card.version} ({card.backbone}) on backend {predictor.name}, "
              f"device {predictor.device}" + ("" if card.clinical_use else " -- NOT FOR CLINICAL USE"))
        if predictor.applicability is None:
            print(UNKNOWN)
        summary = Summary()
        output = CsvOutput(out, predictor.aus)
        try:
            with output:
                for result in pipeline.run(_progress(source, args.quiet)):
                    output.write(result)
                    summary.add(result)
        except KeyboardInterrupt:
            if output.rows:
                print(f"interrupted: the frames analysed so far were written to {out}")
            raise
        print(summary.text(source.name))
        print(f"wrote {out}")
        if source.early_end is not None:
            raise VideoSourceError(f"{source.early_end}; the {source.frames_read} frames before the damage "
                                   f"were analysed and written to {out}")
    return 0


def _check_output(out: Path, source: VideoSource, checkpoint: Path) -> None:
    """Refuse an output that is a folder, the video or the model (also through a link), before any work."""
    if out.is_dir():
        raise PainmonError(f"cannot write {out}: {os.strerror(errno.EISDIR)}")
    inputs = {"the video being analysed": Path(source.name) if source.kind == "file" else None,
              "the model": checkpoint}
    for what, path in inputs.items():
        if path is not None and out.exists() and path.exists() and out.samefile(path):
            raise PainmonError(f"--out {out} is {what}; choose another file for the CSV")


class CsvOutput:
    """The per-frame CSV being written: rows go to a scratch file that replaces `path` when the block ends
    without an error, or on Ctrl-C once it holds rows (the interrupt then goes on); on any other error it is
    removed and `path` is untouched. A write that fails (a full disk) is a one-line PainmonError naming
    `path`."""

    def __init__(self, path: Path, aus: Sequence[int]) -> None:
        self.path = path
        self.rows = 0
        with self._errors(), contextlib.ExitStack() as files:
            path.parent.mkdir(parents=True, exist_ok=True)
            scratch = files.enter_context(replacing(path))
            self._writer = ResultCsvWriter(files.enter_context(scratch.open("w", newline="")), aus)
            self._files = files.pop_all()

    def write(self, result: FrameResult) -> None:
        """Append one frame's row."""
        with self._errors():
            self._writer.write(result)
        self.rows += 1

    def __enter__(self) -> CsvOutput:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        keep = kind is None or (kind is KeyboardInterrupt and self.rows > 0)
        with self._errors():
            if keep:
                self._files.close()
            else:
                self._files.__exit__(kind, error, trace)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except OSError as error:
            raise PainmonError(f"cannot write {self.path}: {error.strerror or error}") from error


def _progress(source: VideoSource, quiet: bool) -> tqdm:
    """Frames of the source with a progress bar on terminals (none when piped or --quiet)."""
    return tqdm(source, total=source.frame_count, unit="frame", disable=True if quiet else None,
                desc=Path(source.name).name, leave=False)
