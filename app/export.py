"""Exports of a replayed recording: the per-frame CSV, the pain curve as PNG, and a PDF summary; and the
alarm log's CSV.

A `ReplayRecord` is what was replayed — an analysed video, a recorded session, or a patient's stay (all its
sessions on one timeline) — with its alarms, annotations and model. Its times are in one frame: seconds
into the video, or Unix time for a session or a stay (`wall_clock`).

The CSV is the per-frame CSV of `painmon analyze` (engine.frame_csv; time_s in the record's frame, so the
file reads back with `FrameTable.read_csv`) with columns for people first: `time` (sessions only: local
date and time, ISO 8601 with its UTC offset), `seconds_since_start`, and the events — `alarm` (raised,
acknowledged, cleared) and `annotation` — each on the row of the frame nearest to it, several joined by
"; ". Events are columns rather than rows of their own because a spreadsheet then keeps one row per frame:
the score column charts and sums without blank rows in between, filtering the event columns on "not
empty" lists the events with the score and status at that moment, and the file stays a per-frame CSV.
A video's rows carry its face box and landmarks where a face was found (empty where none was); a session
keeps no face geometry (the record stores scores, statuses and qualities), so its box and landmark cells
are empty — never 0.

The PNG is drawn with matplotlib (no display needed; annotation labels laid out by app.curve_labels so
none covers another); the PDF is laid out as HTML and printed with Qt's QPdfWriter (it needs the running
Qt application of the GUI); its numbers are written by app.report_format.
"""

from __future__ import annotations

import csv
import html
import io
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PySide6.QtCore import QMarginsF, QUrl
from PySide6.QtGui import QGuiApplication, QImage, QPageLayout, QPageSize, QPdfWriter, QTextDocument

from app import report_format as fmt
from app.alarms import COLOURS, AlarmConfig, AlarmKind, Priority
from app.curve_labels import add_labels
from app.record import (
    AlarmHistoryRow,
    AlarmRecord,
    Annotation,
    AnnotationKind,
    RecordReader,
    Samples,
    Session,
    Stay,
)
from app.replay.analysis import VideoAnalysis
from app.series import DEFAULT_MAX_GAP_S, with_gaps
from app.widgets.curve import CURVE_COLOUR, SCORE_RANGE
from engine.errors import ModelFileError, PainmonError
from engine.files import replacing, write_atomically
from engine.frame_csv import FrameTable
from engine.model_card import ModelCard, read_card
from engine.status import FrameStatus

DEFAULT_THRESHOLD = AlarmConfig().threshold
PNG_SIZE = (1600, 500)
"""Pixel size of the exported curve."""
PNG_DPI = 160
COURSE_BEFORE_S = 900.0
"""The course of an intervention compares the mean score in this long before it ..."""
COURSE_AFTER_S = (1800.0, 3600.0)
"""... with the mean score this long after it (from, to): when an analgesic has taken effect."""


class ExportError(PainmonError):
    """An export cannot be written (folder missing or not writable, disk full)."""


@dataclass(frozen=True)
class ReplayRecord:
    """One replayed recording and everything the exports show about it."""

    title: str
    source: str
    table: FrameTable
    wall_clock: bool  # times are Unix time (a session) rather than seconds into a video
    patient: str = ""
    bed: str = ""
    bed_id: str = ""  # a session's bed (its recordings are named by it)
    alarms: Sequence[AlarmRecord] = ()
    annotations: Sequence[Annotation] = ()
    card: ModelCard | None = None
    model: str = ""  # the model in words (name, version, file) when there is no card, or beside it
    threshold: float = DEFAULT_THRESHOLD
    period: tuple[float, float] | None = None  # the recorded period; None: first to last frame
    stay: Stay | None = None  # the patient's stay this record covers (all its sessions)

    @property
    def span(self) -> tuple[float, float]:
        """First and last time of the recording."""
        if self.period is not None:
            return self.period
        t = self.table.t
        return (float(t[0]), float(t[-1])) if len(t) else (0.0, 0.0)

    def format_time(self, t: float | None, with_date: bool = True) -> str:
        """A time of this recording as people read it (see `format_time`)."""
        return format_time(t, self.wall_clock, with_date)

    @property
    def one_day(self) -> bool:
        """True when the whole recording lies within one calendar day (times then need no date)."""
        start, end = (datetime.fromtimestamp(t).date() for t in self.span)
        return not self.wall_clock or start == end


def format_time(t: float | None, wall_clock: bool, with_date: bool = True) -> str:
    """Local date and time for Unix times (wall_clock), else m:ss.s or h:mm:ss.s (seconds into a video);
    "—" for None."""
    if t is None or not math.isfinite(t):
        return "—"
    if wall_clock:
        return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")
    minutes, seconds = divmod(t, 60.0)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{seconds:04.1f}" if hours else f"{minutes}:{seconds:04.1f}"


def video_record(analysis: VideoAnalysis, annotations: Sequence[Annotation] = (),
                 threshold: float = DEFAULT_THRESHOLD) -> ReplayRecord:
    """The record of an analysed video."""
    card = analysis.card
    model = (f"{card.name} {card.version} ({analysis.checkpoint.name}, "
             f"sha256 {analysis.checkpoint_sha256[:12]}…)")
    return ReplayRecord(analysis.video.name, str(analysis.video), analysis.table, wall_clock=False,
                        annotations=tuple(annotations), card=card, model=model, threshold=threshold)


def session_record(reader: RecordReader, session_id: int, threshold: float | None = None) -> ReplayRecord:
    """The record of a past monitoring session, with the bed's alarm limit then (or `threshold`);
    PainmonError if the record has no such session."""
    session = next((s for s in reader.sessions() if s.id == session_id), None)
    if session is None:
        raise PainmonError(f"the record {reader.path} has no session {session_id}")
    samples = reader.samples(session_id)
    end = _last_moment(session.started_at, session.ended_at, samples)
    return _sessions_record(reader, [session], samples, f"{session.bed_name} — session {session.id}",
                            threshold, patient=session.patient, period=(session.started_at, end))


def stay_record(reader: RecordReader, stay_id: int, threshold: float | None = None) -> ReplayRecord:
    """The record of a patient's stay: every session of it on one timeline, in time order, with their alarms
    and annotations and the bed's latest alarm limit (or `threshold`); PainmonError if the record has no
    such stay."""
    stay = next((s for s in reader.stays() if s.id == stay_id), None)
    if stay is None:
        raise PainmonError(f"the record {reader.path} has no stay {stay_id}")
    sessions = reader.sessions(stay_id=stay_id)
    samples = reader.stay_samples(stay_id)
    last = max((_last_moment(s.started_at, s.ended_at, samples) for s in sessions), default=stay.admitted_at)
    end = stay.discharged_at if stay.discharged_at is not None else last
    return _sessions_record(reader, sessions, samples, stay_title(stay), threshold, patient=stay.patient,
                            period=(stay.admitted_at, end), stay=stay)


def stay_title(stay: Stay) -> str:
    """A stay in one line: patient, bed, admitted → discharged (or "open")."""
    discharged = format_time(stay.discharged_at, True) if stay.discharged_at is not None else "open"
    return (f"{stay.patient or 'Unnamed patient'} — {stay.bed_name}, stay {stay.id}: "
            f"{format_time(stay.admitted_at, True)} → {discharged}")


def _last_moment(started_at: float, ended_at: float | None, samples: Samples) -> float:
    """When a session ended: its end, else (after a crash) its last sample, else its start."""
    if ended_at is None and len(samples):
        ended_at = float(samples.t[-1])
    return max(ended_at if ended_at is not None else started_at, started_at)


def _sessions_record(reader: RecordReader, sessions: Sequence[Session], samples: Samples, title: str,
                     threshold: float | None, *, patient: str, period: tuple[float, float],
                     stay: Stay | None = None) -> ReplayRecord:
    """The record of one or more sessions of one bed (oldest first) with their samples: the newest
    session's model card and alarm limit (unless `threshold` is given), every model and source named."""
    if threshold is None:
        limits = [s.alarm_limit for s in sessions if s.alarm_limit is not None]
        threshold = limits[-1] if limits else DEFAULT_THRESHOLD
    low = samples.status == str(FrameStatus.LOW_QUALITY)
    table = FrameTable.from_columns(samples.t, samples.score, samples.status, quality=samples.quality,
                                    quality_reason=np.where(low, samples.detail, ""))
    alarms = sorted((a for s in sessions for a in reader.alarms(s.id)), key=lambda a: a.raised_at)
    annotations = sorted((a for s in sessions for a in reader.annotations(s.id)), key=lambda a: (a.t, a.id))
    models = list(dict.fromkeys(s.model for s in sessions if s.model))
    bed = stay if stay is not None else sessions[0]
    return ReplayRecord(
        title, ", ".join(dict.fromkeys(s.source for s in sessions)), table, wall_clock=True, patient=patient,
        bed=bed.bed_name, bed_id=bed.bed_id, alarms=tuple(alarms), annotations=tuple(annotations),
        card=_card_of(models[-1] if models else ""), model=", ".join(models), threshold=threshold,
        period=period, stay=stay)


def _card_of(model: str) -> ModelCard | None:
    """The card of the checkpoint a session names, when it names a checkpoint that is still there."""
    try:
        return read_card(model) if model and Path(model).is_file() else None
    except (ModelFileError, OSError):
        return None


# -- statistics ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoreStats:
    """Summary of a recording's scores (NaN where there is no score at all)."""

    frames: int
    scored: int  # frames with a score
    gaps: dict[FrameStatus, int]  # frames without one, by status (statuses with none left out)
    mean: float
    median: float
    peak: float
    peak_t: float
    above_threshold_s: float
    scored_s: float  # time covered by frames with a score


def score_stats(table: FrameTable, threshold: float, max_gap_s: float = DEFAULT_MAX_GAP_S) -> ScoreStats:
    """Counts, mean / median / peak score, and the time spent at or above the threshold. Each frame counts
    until the next one, unless they are more than `max_gap_s` apart (a stretch without frames counts for
    nothing); the last frame counts for the typical frame interval."""
    t, score = table.t, table.score
    statuses = Counter(FrameStatus(status) for status in table.status)
    gaps: dict[FrameStatus, int] = {status: statuses[status] for status in FrameStatus
            if status is not FrameStatus.OK and statuses[status]}
    scored = np.isfinite(score)
    if not scored.any():
        return ScoreStats(len(t), 0, gaps, math.nan, math.nan, math.nan, math.nan, 0.0, 0.0)
    step = np.diff(t)
    typical = float(np.median(step)) if len(step) else 0.0
    duration = np.append(step, typical)
    duration[duration > max_gap_s] = 0.0
    peak = int(np.nanargmax(score))
    high = scored & (np.nan_to_num(score, nan=-1.0) >= threshold)
    return ScoreStats(len(t), int(scored.sum()), gaps, float(np.nanmean(score)), float(np.nanmedian(score)),
                      float(score[peak]), float(t[peak]), float(duration[high].sum()),
                      float(duration[scored].sum()))


# -- exports ------------------------------------------------------------------------------------------
def _writable(path: Path) -> Path:
    path = Path(path)
    if not path.parent.is_dir():
        raise ExportError(f"cannot write {path}: folder {path.parent} does not exist")
    return path


def write_csv(record: ReplayRecord, path: Path) -> Path:
    """Write the per-frame CSV: time (sessions), seconds since the start, alarm and annotation events, then
    frame, time_s, score, status, face box, landmarks, quality (and AU probabilities for a video analysed by
    a model with AUs). Readable by its owner only, like every export: they show a patient."""
    path = _writable(path)
    try:
        record.table.write_csv(path, private=True, leading=csv_leading_columns(record))
    except OSError as error:
        raise ExportError(f"cannot write {path}: {error.strerror or error}") from error
    return path


def csv_leading_columns(record: ReplayRecord) -> dict[str, list[str]]:
    """The CSV's columns for people, name → one cell per frame (see the module docstring)."""
    t = record.table.t
    columns = {"time": [iso_time(float(ti)) for ti in t]} if record.wall_clock else {}
    columns["seconds_since_start"] = [f"{ti - record.span[0]:.3f}" for ti in t]
    columns["alarm"] = _event_cells(t, alarm_events(record.alarms))
    columns["annotation"] = _event_cells(t, [(a.t, a.label) for a in record.annotations])
    return columns


def alarm_events(alarms: Sequence[AlarmRecord]) -> list[tuple[float, str]]:
    """Each alarm's raise (with its priority and message), acknowledgement and clearing, as (time, text)."""
    events = []
    for alarm in alarms:
        name = f"{alarm.kind.label} alarm"
        events.append((alarm.raised_at, f"{name} raised ({Priority(alarm.priority).name.lower()} priority): "
                                        f"{alarm.message}"))
        events += [(at, f"{name} {what}") for at, what in ((alarm.acknowledged_at, "acknowledged"),
                                                           (alarm.cleared_at, "cleared")) if at is not None]
    return events


def _event_cells(t: np.ndarray, events: Sequence[tuple[float, str]]) -> list[str]:
    """One cell per frame: the texts of the events nearest to that frame, in time order, joined by "; "."""
    cells: list[list[str]] = [[] for _ in t]
    if len(t):
        for at, text in sorted(events, key=lambda event: event[0]):
            cells[int(np.argmin(np.abs(t - at)))].append(text)
    return ["; ".join(texts) for texts in cells]


ALARM_CSV_COLUMNS = ("time", "bed", "alarm", "priority", "event", "message")


def iso_time(t: float) -> str:
    """A Unix time as ISO 8601 local time with its UTC offset, to the millisecond."""
    return datetime.fromtimestamp(t, UTC).astimezone().isoformat(timespec="milliseconds")


def write_alarm_csv(rows: Sequence[AlarmHistoryRow], path: Path) -> Path:
    """Write alarm-log rows as CSV (`ALARM_CSV_COLUMNS`; the priority empty for audio-pause events),
    readable by its owner only: it tells what happened to patients."""
    path = _writable(path)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(ALARM_CSV_COLUMNS)
    writer.writerows((iso_time(r.t), r.bed_name, r.alarm, r.priority.label, r.transition.label, r.message)
                     for r in rows)
    try:
        write_atomically(path, text.getvalue().encode("utf-8"), private=True)  # bytes: CRLF rows as written
    except OSError as error:
        raise ExportError(f"cannot write {path}: {error.strerror or error}") from error
    return path


def curve_figure(record: ReplayRecord, size: tuple[int, int] = PNG_SIZE, dpi: int = PNG_DPI) -> Figure:
    """The pain curve as a matplotlib figure of `size` pixels: gaps as breaks, the threshold, pain-alarm
    spans and annotation markers."""
    figure = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    table = record.table
    x, y = with_gaps(table.t, table.score)
    axes.plot(_axis_times(record, x), y, color=CURVE_COLOUR, linewidth=1.5)
    axes.axhline(record.threshold, color=COLOURS[Priority.MEDIUM], linestyle="--", linewidth=1)
    for alarm in record.alarms:
        if alarm.kind is AlarmKind.PAIN:
            end = alarm.cleared_at if alarm.cleared_at is not None else record.span[1]
            axes.axvspan(*_axis_times(record, [alarm.raised_at, end]), color=COLOURS[Priority.MEDIUM],
                         alpha=0.25, linewidth=0)
    labels = []
    for annotation in record.annotations:
        (at,) = _axis_times(record, [annotation.t])
        axes.axvline(at, color="#616161", linestyle=":", linewidth=1)
        labels.append((float(axes.convert_xunits(at)), annotation.label))
    axes.set_ylim(*SCORE_RANGE)
    start, end = record.span
    axes.set_xlim(*_axis_times(record, [start, max(end, start + 1.0)]))
    axes.set_ylabel("pain (0–5)")
    axes.set_xlabel("time" if record.wall_clock else "time in video (s)")
    axes.grid(alpha=0.3)
    axes.set_title(record.title, fontsize=11)
    figure.tight_layout()
    add_labels(axes, labels, canvas.get_renderer())  # once the layout is final
    return figure


def _axis_times(record: ReplayRecord, times: Sequence[float] | np.ndarray) -> np.ndarray:
    """Times as matplotlib plots them: local date-times for sessions (at the UTC offset of the start),
    seconds for a video."""
    times = np.asarray(times, dtype=np.float64)
    if not record.wall_clock:
        return times
    start = datetime.fromtimestamp(record.span[0]).astimezone()
    offset = start.utcoffset()
    local = times + (offset.total_seconds() if offset is not None else 0.0)
    return (local * 1000).astype("datetime64[ms]")


def curve_png(record: ReplayRecord, size: tuple[int, int] = PNG_SIZE) -> bytes:
    """The curve (see `curve_figure`) as PNG bytes."""
    buffer = io.BytesIO()
    FigureCanvasAgg(curve_figure(record, size)).print_png(buffer)
    return buffer.getvalue()


def write_png(record: ReplayRecord, path: Path, size: tuple[int, int] = PNG_SIZE) -> Path:
    """Write the curve as a PNG of `size` pixels."""
    path = _writable(path)
    try:
        write_atomically(path, curve_png(record, size), private=True)
    except OSError as error:
        raise ExportError(f"cannot write {path}: {error.strerror or error}") from error
    return path


# -- PDF summary --------------------------------------------------------------------------------------
PDF_MARGIN_MM = 15.0
_STYLE = """
body { font-family: sans-serif; font-size: 10pt; color: #202020; }
h1 { font-size: 18pt; margin-bottom: 2px; }
h2 { font-size: 12pt; margin-top: 14px; margin-bottom: 4px; }
td, th { padding: 3px 8px; }
th { background-color: #e8e8e8; text-align: left; }
.key { color: #555555; }
.warning { background-color: #ffd200; color: #000000; font-weight: bold; padding: 6px; }
.muted { color: #777777; }
"""


def write_pdf(record: ReplayRecord, path: Path) -> Path:
    """Write the PDF summary: recording (patient, bed, period; for a stay, its admission and discharge),
    score statistics, the curve, alarms, the annotations with the scores before and after each
    intervention, and the model card. Needs a Qt application (the GUI's; QGuiApplication for scripts)."""
    path = _writable(path)
    if QGuiApplication.instance() is None:
        raise ExportError("PDF export needs a running Qt application (start the painmon GUI)")
    try:
        with replacing(path, private=True) as scratch:  # QPdfWriter keeps the scratch file's mode
            _print_pdf(record, scratch)
            if scratch.stat().st_size == 0:  # QPdfWriter fails silently
                raise ExportError(f"cannot write {path}")
    except OSError as error:
        raise ExportError(f"cannot write {path}: {error.strerror or error}") from error
    return path


def _print_pdf(record: ReplayRecord, path: Path) -> None:
    document = QTextDocument()
    document.setDefaultStyleSheet(_STYLE)
    document.addResource(QTextDocument.ResourceType.ImageResource, QUrl("painmon:curve.png"),
                         QImage.fromData(curve_png(record)))
    document.setHtml(summary_html(record, "painmon:curve.png"))
    writer = QPdfWriter(str(path))
    writer.setTitle(f"Pain replay summary — {record.title}")
    writer.setCreator("painmon")
    margins = QMarginsF(PDF_MARGIN_MM, PDF_MARGIN_MM, PDF_MARGIN_MM, PDF_MARGIN_MM)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                     margins, QPageLayout.Unit.Millimeter))
    document.print_(writer)
    del writer  # the file is complete once the writer is gone


def summary_html(record: ReplayRecord, curve_url: str) -> str:
    """The PDF summary as HTML (Qt's rich-text subset); `curve_url` names the curve image."""
    stats = score_stats(record.table, record.threshold)
    start, end = record.span
    heading = "Pain course of a stay" if record.stay is not None else "Pain replay summary"
    parts = [f"<h1>{heading}</h1><p class='muted'>{_e(record.title)}</p>"]
    card = record.card
    if card is not None and not card.clinical_use:
        parts.append("<table width='100%'><tr><td class='warning'>Not for clinical use — the model card "
                     f"says: {_e(card.intended_use)}</td></tr></table>")
    parts.append("<h2>Recording</h2>")
    parts.append(_pairs([
        ("Patient", record.patient or "—"), ("Bed", record.bed or "—"), ("Source", record.source),
        ("Stay" if record.stay else "Period",
         f"{record.format_time(start)} – {record.format_time(end)} ({fmt.duration(end - start)})"
         + (" (still open)" if record.stay and record.stay.discharged_at is None else "")),
        ("Model", record.model or "—"),
    ]))
    parts.append("<h2>Scores</h2>")
    share = f" ({fmt.percent(stats.scored, stats.frames)})" if stats.frames else ""
    gaps = "; ".join(f"{status.label} {fmt.count(n)}" for status, n in stats.gaps.items()) or "none"
    high = stats.above_threshold_s
    above = (f"{fmt.duration(high)} ({fmt.percent(high, stats.scored_s)} of the scored time)"
             if stats.scored_s else fmt.NONE)
    parts.append(_pairs([
        ("Frames", fmt.count(stats.frames)), ("Frames scored", f"{fmt.count(stats.scored)}{share}"),
        ("Frames without a score", gaps),
        ("Mean score", fmt.score(stats.mean)), ("Median score", fmt.score(stats.median)),
        ("Peak score", f"{fmt.score(stats.peak)} at {record.format_time(stats.peak_t)}"
         if math.isfinite(stats.peak) else fmt.NONE),
        (f"Time at or above {fmt.number(record.threshold)}", above),
    ]))
    width = 500
    parts.append(f"<p><img src='{curve_url}' width='{width}' height='{width * PNG_SIZE[1] // PNG_SIZE[0]}'>"
                 f"</p>")
    parts.append("<h2>Alarms</h2>")
    dated = not record.one_day  # within one day, the period above gives the date
    if record.alarms:
        parts.append(_table(["Alarm", "Priority", "Raised", "Acknowledged", "Cleared", "Message"], [
            [a.kind.label, Priority(a.priority).name.lower(),
             *(record.format_time(t, dated) for t in (a.raised_at, a.acknowledged_at, a.cleared_at)),
             a.message] for a in record.alarms]))
    else:
        parts.append("<p class='muted'>None recorded." + ("" if record.wall_clock else
                     " Alarms are recorded by the live monitor; a video analysis has none.") + "</p>")
    parts.append(_course_html(record, dated))
    parts.append("<h2>Model card</h2>")
    missing = _e(record.model or "model not recorded")
    parts.append(_pairs(fmt.card_rows(card)) if card is not None else
                 f"<p class='muted'>No model card available ({missing}).</p>")
    parts.append(f"<p class='muted'>Generated {datetime.now().strftime('%Y-%m-%d %H:%M')} by painmon.</p>")
    return "".join(parts)


def scores_around(table: FrameTable, t: float) -> tuple[float, float]:
    """The mean score in the `COURSE_BEFORE_S` before time t and from `COURSE_AFTER_S[0]` to
    `COURSE_AFTER_S[1]` after it; NaN where no frame then had a score."""
    before = (table.t >= t - COURSE_BEFORE_S) & (table.t < t)
    after = (table.t >= t + COURSE_AFTER_S[0]) & (table.t <= t + COURSE_AFTER_S[1])
    means = []
    for window in (before, after):
        scores = table.score[window & np.isfinite(table.score)]
        means.append(float(scores.mean()) if len(scores) else math.nan)
    return means[0], means[1]


def _course_html(record: ReplayRecord, dated: bool) -> str:
    """The annotations in time order: for each intervention (every kind but a note), the mean score
    before it and once it has had time to act."""
    if not record.annotations:
        return "<h2>Annotations</h2><p class='muted'>None.</p>"
    rows = []
    for a in record.annotations:
        around = () if a.kind is AnnotationKind.NOTE else scores_around(record.table, a.t)
        scores = [fmt.score(v) for v in around] or ["", ""]
        rows.append([record.format_time(a.t, dated), a.kind.label, a.text, *scores])
    after_min = "–".join(f"{limit / 60:g}" for limit in COURSE_AFTER_S)
    header = ["Time", "Event", "Note", f"Score {COURSE_BEFORE_S / 60:g} min before",
              f"Score {after_min} min after"]
    return (f"<h2>Annotations</h2><p class='muted'>The course: each intervention with the mean score "
            f"before it and {after_min} min after it.</p>{_table(header, rows)}")


def _pairs(rows: list[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><td class='key'>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table cellspacing='0'>{cells}</table>"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table cellspacing='0' border='0' width='100%'><tr>{head}</tr>{body}</table>"


def _e(text: str) -> str:
    return html.escape(str(text))
