"""The replay view: a recorded video (analysed in the background) or a past session, its pain curve and a
player that keeps both in step, event annotations, and the CSV / PNG / PDF exports.

`ReplayView.open_video(path)` analyses the video on a background thread with a progress bar (results cached
by file hash, app.replay.analysis) and shows its first frame meanwhile (with a model with AUs, the AUs at the
cursor are shown beside the curve); `open_session(session_id)` loads a session from the record,
`open_stay(stay_id)` a patient's stay (its sessions on one timeline). Then play /
pause, step, speed and the slider move through the frames (app.replay.playback); the curve's cursor follows,
and clicking the curve seeks to the nearest frame.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app import export
from app.alarms import AlarmConfig, AlarmKind
from app.export import DEFAULT_THRESHOLD, ReplayRecord
from app.record import Annotation, AnnotationKind, RecordReader
from app.record import record_path as default_record_path
from app.record_writer import RecordWriter
from app.replay.analysis import AnalysisJob, AnalysisSettings, VideoAnalysis
from app.replay.annotations import load_video_annotations, save_video_annotations
from app.replay.playback import SPEEDS, Frames, Playback, VideoFrames
from app.replay.recordings import SessionFrames, recordings_of
from app.replay.widgets import STAY, FrameView, SessionDialog, describe_session, describe_stay
from app.widgets.au_bars import AUBars
from app.widgets.curve import PainCurve
from app.widgets.image import draw_face
from engine.errors import PainmonError, VideoSourceError
from engine.paths import data_dir
from engine.status import FrameStatus


def unscored_note(record: ReplayRecord) -> str:
    """Why the curve is empty, in words, when no frame has a score ("" when some has)."""
    stats = export.score_stats(record.table, record.threshold)
    if stats.scored or not stats.frames:
        return ""
    return "no frame scored: " + ", ".join(f"{count} {status.label}" for status, count in
                                             sorted(stats.gaps.items(), key=lambda item: -item[1]))


class ReplayView(QWidget):
    """Replay of a recorded video or a past session, for the main window to host.

    `settings` name the model that analyses videos, `record_path` the SQLite record that holds the sessions
    (default: the user's record), `threshold` the pain threshold drawn and used in the exports. A record
    has one writer: in the main window `writer` is the monitor's, through which a session's annotations go
    (its file is then the record read); without one the view opens its own when it first writes.

    API: `open_video(path)`, `open_session(session_id)`, `set_settings(AnalysisSettings)`,
    `set_threshold(value)`, `add_annotation(kind, text)`, `export_csv/png/pdf(path)`, `shutdown()`.
    Signals: `loaded(ReplayRecord)` when a recording is ready to play (a video once analysed);
    `failed(message)` when opening or analysing fails, or an action of the view's own buttons does (the
    message is also shown in the view). Called directly, `add_annotation` and the exports raise instead.
    """

    loaded = Signal(object)
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, settings: AnalysisSettings | None = None,
                 record_path: Path | None = None, writer: RecordWriter | None = None,
                 video_folder: Path | None = None, threshold: float = DEFAULT_THRESHOLD) -> None:
        super().__init__(parent)
        self.settings = settings or AnalysisSettings()
        self.record_path = writer.path if writer is not None else record_path or default_record_path()
        self.video_folder = video_folder or data_dir("video")
        self.threshold = threshold
        self.record: ReplayRecord | None = None
        self.analysis: VideoAnalysis | None = None
        self.session_id: int | None = None
        self._writer = writer
        self._owns_writer = writer is None
        self._job: AnalysisJob | None = None
        self._clock_axis: bool | None = None

        self.playback = Playback(self)
        self.playback.position_changed.connect(self._position_changed)
        self.playback.playing_changed.connect(self._playing_changed)

        self.title = QLabel("Open a recorded video or a past session.")
        self.title.setStyleSheet("font-size: 15px; font-weight: bold;")
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #e8000b;")
        self.message.hide()
        layout = QVBoxLayout(self)
        layout.addLayout(self._toolbar_row())
        layout.addWidget(self.title)
        layout.addWidget(self.message)
        layout.addWidget(self._saved_row())
        layout.addLayout(self._progress_row())
        layout.addWidget(self._frame_and_trends(), 1)
        layout.addLayout(self._transport_row())
        layout.addLayout(self._annotation_row())
        self._add_shortcuts()
        self._show_progress(False)
        self._set_ready(False)

    # -- building ---------------------------------------------------------------------------------------
    def _toolbar_row(self) -> QHBoxLayout:
        """Open video / open session on the left, the export buttons on the right."""
        self.open_video_button = QPushButton("Open video…")
        self.open_video_button.clicked.connect(self._choose_video)
        self.open_session_button = QPushButton("Open session…")
        self.open_session_button.clicked.connect(self._choose_session)
        self.export_buttons = {kind: QPushButton(f"Export {kind.upper()}…") for kind in ("csv", "png", "pdf")}
        row = QHBoxLayout()
        row.addWidget(self.open_video_button)
        row.addWidget(self.open_session_button)
        row.addStretch(1)
        for kind, button in self.export_buttons.items():
            button.clicked.connect(lambda _=False, k=kind: self._choose_export(k))
            row.addWidget(button)
        return row

    def _saved_row(self) -> QWidget:
        """After an export: "Saved to PATH" (the path selectable) and a button that copies the path."""
        self.saved_label = QLabel()
        self.saved_label.setStyleSheet("color: #1b5e20;")
        self.saved_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                                 | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        self.copy_path_button = QPushButton("Copy path")
        self.copy_path_button.clicked.connect(
            lambda: QGuiApplication.clipboard().setText(str(self.saved_path)))
        self.saved_path: Path | None = None
        self._saved_widget = QWidget()
        row = QHBoxLayout(self._saved_widget)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.saved_label, 1)
        row.addWidget(self.copy_path_button)
        self._saved_widget.hide()
        return self._saved_widget

    def _progress_row(self) -> QHBoxLayout:
        """The analysis progress bar and its cancel button (shown while a video is analysed)."""
        self.progress = QProgressBar()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_analysis)
        self._progress_widgets = (self.progress, self.cancel_button)
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        return row

    def _frame_and_trends(self) -> QSplitter:
        """The video frame above the pain curve and, for a video analysed by a model with AUs, the AUs at the
        cursor."""
        self.frame_view = FrameView()
        self.curve = PainCurve(window="Session")
        self.curve.set_threshold(self.threshold)
        self.curve.time_clicked.connect(self._curve_clicked)
        self.au_bars = AUBars()
        trends = QWidget()
        trends_row = QHBoxLayout(trends)
        trends_row.setContentsMargins(0, 0, 0, 0)
        trends_row.addWidget(self.curve, 1)
        trends_row.addWidget(self.au_bars)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.frame_view)
        self.splitter.addWidget(trends)
        self.splitter.setSizes([600, 400])
        return self.splitter

    def _transport_row(self) -> QHBoxLayout:
        """Step back, play / pause, step forward, speed, the position slider and the time shown."""
        self.play_button = QPushButton("Play")
        self.play_button.clicked.connect(self.playback.toggle)
        self.back_button = QPushButton("◀ 1")
        self.back_button.setToolTip("One frame back (Left)")
        self.back_button.clicked.connect(lambda: self.playback.step(-1))
        self.forward_button = QPushButton("1 ▶")
        self.forward_button.setToolTip("One frame forward (Right)")
        self.forward_button.clicked.connect(lambda: self.playback.step(1))
        self.speed_box = QComboBox()
        for speed in SPEEDS:
            self.speed_box.addItem(f"{speed:g}×", speed)
        self.speed_box.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_box.currentIndexChanged.connect(lambda i: self.playback.set_speed(SPEEDS[i]))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.valueChanged.connect(self._slider_moved)
        self.time_label = QLabel()
        row = QHBoxLayout()
        for widget in (self.back_button, self.play_button, self.forward_button, self.speed_box):
            row.addWidget(widget)
        row.addWidget(self.slider, 1)
        row.addWidget(self.time_label)
        return row

    def _annotation_row(self) -> QHBoxLayout:
        """The annotation kind, its note and the button that adds it at the cursor."""
        self.kind_box = QComboBox()
        for kind in AnnotationKind:
            self.kind_box.addItem(kind.label, kind.value)
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText("note (needed for “Note”)")
        self.annotate_button = QPushButton("Add annotation at cursor")
        self.annotate_button.clicked.connect(self._annotate_clicked)
        row = QHBoxLayout()
        row.addWidget(self.kind_box)
        row.addWidget(self.note_edit, 1)
        row.addWidget(self.annotate_button)
        return row

    def _add_shortcuts(self) -> None:
        """Space plays / pauses, Left and Right step one frame, anywhere in the view."""
        for keys, action in ((Qt.Key.Key_Space, self.playback.toggle),
                             (Qt.Key.Key_Left, lambda: self.playback.step(-1)),
                             (Qt.Key.Key_Right, lambda: self.playback.step(1))):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(action)

    # -- opening --------------------------------------------------------------------------------------
    def set_settings(self, settings: AnalysisSettings) -> None:
        """The model (and backend) that analyses videos opened from now on."""
        self.settings = settings

    def set_threshold(self, value: float) -> None:
        """The pain threshold drawn on the curve and used for the exports' time above it (0 < value ≤ 5)."""
        self.threshold = AlarmConfig(threshold=value).threshold  # ValueError with the allowed range
        self.curve.set_threshold(self.threshold)
        if self.record is not None:
            self.record = dataclasses.replace(self.record, threshold=self.threshold)

    def open_video(self, path: str | Path) -> None:
        """Analyse a recorded video in the background (or load its cached results) and then replay it.
        Shows the first frame at once; `loaded` follows when the analysis is done, `failed` if it fails."""
        path = Path(path)
        self._reset(path.name)
        with contextlib.suppress(VideoSourceError):  # if unreadable, the analysis says why
            self.playback.load(np.zeros(1), VideoFrames(path, np.zeros(1)))  # its first frame meanwhile
        self.frame_view.show_frame(self.playback.frame, "")
        job = AnalysisJob(path, self.settings, self)
        job.progress.connect(lambda done, total: self._analysis_progress(job, done, total))
        job.finished.connect(lambda analysis: self._analysis_finished(job, analysis))
        job.failed.connect(lambda message: self._analysis_failed(job, message))
        self._job = job
        self._show_progress(True)
        self._analysis_progress(job, 0, 0)
        job.start()

    def open_session(self, session_id: int) -> None:
        """Replay a past session from the record: curve, alarms, annotations, and the bed's recorded video
        where there is some (app.video_recording)."""
        record = self._read_record(f"session {session_id}",
                                   lambda reader: export.session_record(reader, session_id))
        if record is not None:
            self.session_id = session_id
            self._present_recorded(record)

    def open_stay(self, stay_id: int) -> None:
        """Replay a patient's stay: all its sessions' samples, alarms and annotations on one timeline, with
        the bed's recorded video over the stay (annotations are added to a stay's sessions one by one)."""
        record = self._read_record(f"stay {stay_id}",
                                   lambda reader: export.stay_record(reader, stay_id))
        if record is not None:
            self._present_recorded(record)
            self.annotate_button.setEnabled(False)

    def _read_record(self, title: str, read: Callable[[RecordReader], ReplayRecord]) -> ReplayRecord | None:
        """Reset the view and read a record from the record database (None, said, when it cannot be)."""
        self._reset(title)
        try:
            with RecordReader(self.record_path) as reader:
                return read(reader)
        except PainmonError as error:
            self._fail(str(error))
            return None

    def _present_recorded(self, record: ReplayRecord) -> None:
        """Show a session's or a stay's record, with the bed's alarm limit then, and the bed's video recorded
        over its period."""
        self.set_threshold(record.threshold)
        recordings = recordings_of(self.video_folder, record.bed_id, *record.span) if record.bed_id else []
        self._present(record, SessionFrames(recordings, record.table.t) if recordings else None)

    def cancel_analysis(self) -> None:
        """Stop a running analysis (its results are not kept)."""
        if self._job is not None:
            self._job.cancel()

    def shutdown(self) -> None:
        """Stop playing and any analysis, release the video and close the view's own record writer, if it
        has one (call when the window closes)."""
        self._stop()
        writer = self._writer
        if self._owns_writer and writer is not None:
            self._writer = None
            writer.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt naming)
        self.shutdown()
        super().closeEvent(event)

    def _stop(self) -> None:
        """Stop playing and any analysis, and release the video."""
        self.playback.pause()
        self.playback.close()
        job, self._job = self._job, None
        if job is not None:
            job.cancel()
            job.wait()

    def _reset(self, title: str) -> None:
        self._stop()
        self.record = None
        self.analysis = None
        self.session_id = None
        self.title.setText(title)
        self.message.hide()
        self._show_saved(None)
        self.curve.set_data(np.zeros(0), np.zeros(0))
        self.curve.set_alarm_spans([])
        self.curve.set_annotations([])
        self.curve.set_cursor(None)
        self.au_bars.set_thresholds({})
        self.playback.load(np.zeros(0))
        self.frame_view.show_frame(None, "")
        self._set_ready(False)

    def _analysis_progress(self, job: AnalysisJob, done: int, total: int) -> None:
        if job is not self._job:
            return
        if total == 0:
            self.progress.setRange(0, 0)
            self.progress.setFormat("Reading the video…")
        else:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.progress.setFormat("Analysing: frame %v of %m")

    def _analysis_finished(self, job: AnalysisJob, analysis: VideoAnalysis) -> None:
        if job is not self._job:
            return
        self._job = None
        self._show_progress(False)
        try:
            annotations = load_video_annotations(analysis.video_sha256)
        except PainmonError as error:
            annotations = []
            self._fail(str(error))
        self.analysis = analysis
        self.au_bars.set_thresholds(analysis.au_thresholds)
        record = export.video_record(analysis, annotations, self.threshold)
        try:
            self._present(record, VideoFrames(analysis.video, record.table.t))
        except VideoSourceError as error:
            self._present(record, None)
            self._fail(str(error))
        notes = ["results from the cache" if analysis.from_cache else "", analysis.early_end or "",
                 unscored_note(record)]
        self.title.setText(" — ".join([analysis.video.name, *filter(None, notes)]))

    def _analysis_failed(self, job: AnalysisJob, message: str) -> None:
        if job is not self._job:
            return
        self._job = None
        self._show_progress(False)
        self._fail(message)

    def _present(self, record: ReplayRecord, frames: Frames | None) -> None:
        """Show a record along with its frames (None: no video), taking the frames over."""
        self.record = record
        self._set_time_axis(record.wall_clock)
        self.frame_view.setVisible(frames is not None)
        self.curve.set_data(record.table.t, record.table.score)
        self.curve.set_alarm_spans([(a.raised_at, a.cleared_at) for a in record.alarms
                                    if a.kind is AlarmKind.PAIN])
        self._show_annotations()
        if record.wall_clock:
            video = "recorded video" if frames is not None else "no video recorded"
            about = "" if record.stay is not None else (  # a stay's title names its patient and admission
                f" — {record.patient or 'no patient recorded'} — {record.format_time(record.span[0])}")
            self.title.setText(" — ".join(filter(None, [f"{record.title}{about}", video,
                                                        unscored_note(record)])))
        self.slider.setRange(0, max(0, len(record.table) - 1))
        self._set_ready(len(record.table) > 0)
        self.playback.load(record.table.t, frames)
        self.loaded.emit(record)

    def _set_time_axis(self, clock: bool) -> None:
        """Wall-clock axis for sessions, seconds into the video for videos."""
        if clock == self._clock_axis:
            return
        self._clock_axis = clock
        if clock:
            axis = pg.DateAxisItem(orientation="bottom")
        else:
            axis = pg.AxisItem(orientation="bottom")
            axis.setLabel("time in video (s)")
        self.curve.plot.getPlotItem().setAxisItems({"bottom": axis})

    # -- playing --------------------------------------------------------------------------------------
    @property
    def position(self) -> int:
        """Index of the frame (or session sample) shown."""
        return self.playback.position

    def _position_changed(self, index: int) -> None:
        record = self.record
        if record is None or not len(record.table):
            return
        table = record.table
        frame = self.playback.frame
        if frame is not None:
            frame = draw_face(frame, table.box[index], table.landmarks[index])
        self.frame_view.show_frame(frame, "no video recorded at this moment" if record.wall_clock
                                   else "frame cannot be decoded")
        t = float(table.t[index])
        self.curve.set_cursor(t)
        self.au_bars.set_values(table.aus_at(index))
        self.slider.setValue(index)
        score = table.score[index]
        shown = (f"{score:.2f}" if np.isfinite(score)
                 else FrameStatus(table.status[index]).words(str(table.quality_reason[index])))
        unit = "sample" if record.wall_clock else "frame"
        self.time_label.setText(f"{record.format_time(t)} · {unit} {index + 1}/{len(table)} · pain {shown}")

    def _playing_changed(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")

    def _slider_moved(self, value: int) -> None:
        if value != self.playback.position:
            self.playback.seek(value)

    def _curve_clicked(self, t: float) -> None:
        if self.record is not None:
            self.playback.seek_time(t)

    # -- annotations ----------------------------------------------------------------------------------
    def add_annotation(self, kind: AnnotationKind, text: str = "") -> None:
        """Mark an event at the cursor: in the record for a session, kept by the video's hash for a video."""
        record = self.record
        if record is None or not len(record.table):
            raise PainmonError("open a recording before adding annotations")
        kind = AnnotationKind(kind)
        if kind is AnnotationKind.NOTE and not text.strip():
            raise PainmonError("a note needs text")
        if record.stay is not None:
            raise PainmonError("a stay is annotated session by session: open one of its sessions")
        t = float(record.table.t[self.position])
        if self.session_id is not None:
            writer = self._record_writer()
            writer.add_annotation(self.session_id, t, kind, text)
            writer.flush()  # committed before it is read back; RecordError if the commit fails
            with RecordReader(self.record_path) as reader:
                annotations = reader.annotations(self.session_id)
        else:
            assert self.analysis is not None
            annotations = [*record.annotations, Annotation(len(record.annotations) + 1, t, kind, text)]
            annotations.sort(key=lambda a: a.t)
            save_video_annotations(self.analysis.video_sha256, annotations)
        self.record = dataclasses.replace(record, annotations=tuple(annotations))
        self._show_annotations()

    def _record_writer(self) -> RecordWriter:
        """The one writer of the record: the monitor's in the main window; without a monitor the view's own,
        opened at first use and closed by `shutdown()`."""
        if self._writer is None:
            self._writer = RecordWriter(self.record_path)
        return self._writer

    def _show_annotations(self) -> None:
        assert self.record is not None
        self.curve.set_annotations([(a.t, a.label) for a in self.record.annotations])

    def _annotate_clicked(self) -> None:
        try:
            self.add_annotation(AnnotationKind(self.kind_box.currentData()), self.note_edit.text())
        except (PainmonError, OSError) as error:
            self._fail(str(error))
        else:
            self.note_edit.clear()
            self.message.hide()

    # -- exports --------------------------------------------------------------------------------------
    def export_csv(self, path: str | Path) -> Path:
        """Write the per-frame CSV of what is shown."""
        return export.write_csv(self._record_for_export(), Path(path))

    def export_png(self, path: str | Path) -> Path:
        """Write the curve as a PNG."""
        return export.write_png(self._record_for_export(), Path(path))

    def export_pdf(self, path: str | Path) -> Path:
        """Write the PDF summary."""
        return export.write_pdf(self._record_for_export(), Path(path))

    def _record_for_export(self) -> ReplayRecord:
        if self.record is None:
            raise PainmonError("nothing to export: open a recording first")
        return self.record

    def _choose_export(self, kind: str) -> None:
        if self.record is None:
            return
        stem = Path(self.record.title.replace(" — ", "_").replace(" ", "_")).stem
        suggested = str(Path.home() / f"{stem}_pain.{kind}")
        path, _ = QFileDialog.getSaveFileName(self, f"Export {kind.upper()}", suggested, f"*.{kind}")
        if not path:
            return
        self._show_saved(None)
        try:
            saved = {"csv": self.export_csv, "png": self.export_png, "pdf": self.export_pdf}[kind](path)
        except PainmonError as error:
            self._fail(f"{kind.upper()} export failed: {error}")
        else:
            self.message.hide()
            self._show_saved(saved)

    def _show_saved(self, path: Path | None) -> None:
        """Say where an export was saved; None hides it."""
        self.saved_path = path
        self.saved_label.setText("" if path is None else f"Saved to {path}")
        self._saved_widget.setVisible(path is not None)

    # -- choosing -------------------------------------------------------------------------------------
    def _choose_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a recorded video", str(Path.home()),
                                              "Videos (*.mp4 *.mov *.avi *.mkv *.webm);;All files (*)")
        if path:
            self.open_video(path)

    def _choose_session(self) -> None:
        try:
            with RecordReader(self.record_path) as reader:
                stays, sessions = reader.stays(), reader.sessions()
        except PainmonError as error:
            self._fail(str(error))
            return
        if not sessions and not stays:
            self._fail("the record holds no sessions yet")
            return
        dialog = SessionDialog([(s.id, describe_stay(s)) for s in stays],
                               [(s.id, describe_session(s)) for s in sessions], self)
        if dialog.exec() and (chosen := dialog.choice()) is not None:
            kind, number = chosen
            (self.open_stay if kind == STAY else self.open_session)(number)

    # -- state ----------------------------------------------------------------------------------------
    def _set_ready(self, ready: bool) -> None:
        for widget in (self.play_button, self.back_button, self.forward_button, self.slider,
                       self.annotate_button, *self.export_buttons.values()):
            widget.setEnabled(ready)

    def _show_progress(self, visible: bool) -> None:
        for widget in self._progress_widgets:
            widget.setVisible(visible)

    def _fail(self, message: str) -> None:
        self.message.setText(message)
        self.message.show()
        self.failed.emit(message)
