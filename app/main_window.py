"""The painmon main window: the start-up notices (damaged files set aside), the model banner, the ward's alarm
banner, and tabs for the ward, one bed, the alarm log, replay and settings. `run_gui` starts the app
(`painmon` with no subcommand) and closes it cleanly on SIGINT, SIGTERM and SIGHUP."""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
from pathlib import Path
from typing import cast

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QColor, QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.alarm_log_view import AlarmLogView
from app.bed_dialog import BedDialog
from app.bed_view import BedView
from app.confirm import confirm, records_kept
from app.handoff import ModelInfo
from app.monitor import Monitor
from app.replay.analysis import AnalysisSettings
from app.replay.view import ReplayView
from app.settings import MonitorSettings
from app.settings_view import SettingsView
from app.ward_view import WardView
from app.widgets.alarm_banner import AlarmBanner, BannerAlarm
from engine.applicability import UNKNOWN
from engine.errors import PainmonError

BANNER_STYLE = "background: #ff8f00; color: #000000; font-weight: bold; padding: 6px;"
ERROR_STYLE = "background: #b71c1c; color: #ffffff; font-weight: bold; padding: 6px;"
NOTICE_STYLE = "background: #4a3b00; color: #ffe082; padding: 6px;"
SHORTCUTS = {"acknowledge": "F9", "audio pause": "F10", "full screen": "F11"}
"""Keys that work wherever the focus is in the window."""
BUTTON_STYLE = (
    "QPushButton { background: #333333; color: #e0e0e0; border: 1px solid #5a5a5a; border-radius: 3px;"
    " padding: 4px 10px; }"
    " QPushButton:hover { border-color: #8a8a8a; }"
    " QPushButton:pressed, QPushButton:checked { background: #1e88e5; color: #ffffff;"
    " border-color: #90caf9; }"
    " QPushButton:disabled { background: #262626; color: #6b6b6b; border-color: #3a3a3a; }")
"""Buttons of the window: a toggled button (privacy pause) lit while checked, a disabled one visibly grey."""
DISABLED_COLOURS = {QPalette.ColorRole.WindowText: "#6b6b6b", QPalette.ColorRole.Text: "#6b6b6b",
                    QPalette.ColorRole.ButtonText: "#6b6b6b", QPalette.ColorRole.Button: "#262626"}
"""The dark palette's disabled widgets: grey, so that they look like what they are."""
CLOSING_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
"""Ctrl+C, logout / shutdown / `systemctl stop`, a closed terminal: each closes the app cleanly."""


class MainWindow(QMainWindow):
    """Ward, bed, alarm-log, replay and settings tabs over one `Monitor`; closing the window stops the
    monitor."""

    def __init__(self, monitor: Monitor) -> None:
        super().__init__()
        self.monitor = monitor
        self.setWindowTitle("painmon — bedside pain monitor")
        self.model_banner = QLabel("Loading model…")
        self.model_banner.setWordWrap(True)
        self.model_banner.setStyleSheet(BANNER_STYLE)
        self.alarm_banner = AlarmBanner()
        self.alarm_banner.acknowledge_requested.connect(monitor.acknowledge)
        self.alarm_banner.audio_pause_requested.connect(monitor.pause_audio)
        self.ward = WardView(monitor)
        self.bed_view = BedView(monitor)
        self.alarm_log = AlarmLogView(monitor)
        self.settings_view = SettingsView(monitor)
        self.replay = ReplayView(settings=analysis_settings(monitor.settings), writer=monitor.record)
        self.tabs = QTabWidget()
        tabs = ((self.ward, "Ward"), (self.bed_view, "Bed"), (self.alarm_log, "Alarm log"),
                (self.replay, "Replay"), (self.settings_view, "Settings"))
        for widget, title in tabs:
            self.tabs.addTab(widget, title)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self._notice_banner(monitor.notices))
        layout.addWidget(self.model_banner)
        layout.addWidget(self.alarm_banner)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.setStyleSheet(BUTTON_STYLE)
        self.bed_dialog: BedDialog | None = None
        self._close_confirmed = False

        self.ward.bed_clicked.connect(self.open_bed)
        self.ward.add_requested.connect(self.add_bed)
        self.bed_view.edit_requested.connect(self.edit_bed)
        monitor.model_changed.connect(self.show_model)
        monitor.updated.connect(self.refresh)
        if monitor.model is not None:
            self.show_model(monitor.model)
        self._add_shortcuts()
        screen = self.screen().availableGeometry()  # 1280×860, or the screen when it is smaller
        self.resize(min(1280, screen.width()), min(860, screen.height()))

    def _add_shortcuts(self) -> None:
        """F9 acknowledges the alarm the banner shows, F10 pauses audio, F11 toggles full screen."""
        actions = {"acknowledge": self.alarm_banner.acknowledge_button.click,
                   "audio pause": self.alarm_banner.audio_pause_button.click,
                   "full screen": self.toggle_full_screen}
        for name, action in actions.items():
            shortcut = QShortcut(QKeySequence(SHORTCUTS[name]), self)
            shortcut.setContext(Qt.ShortcutContext.ApplicationShortcut)
            shortcut.activated.connect(action)
        self.alarm_banner.acknowledge_button.setToolTip(f"Acknowledge ({SHORTCUTS['acknowledge']})")
        self.alarm_banner.audio_pause_button.setToolTip(f"Pause audio ({SHORTCUTS['audio pause']})")

    def toggle_full_screen(self) -> None:
        """Full screen (a central station's kiosk) or back to a window."""
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def _notice_banner(self, notices: list[str]) -> QWidget:
        """What start-up found wrong (damaged files set aside), until dismissed; hidden when all was well."""
        self.notice_label = QLabel("\n".join(notices))
        self.notice_label.setWordWrap(True)
        self.notice_dismiss = QPushButton("Dismiss")
        banner = QWidget()
        banner.setStyleSheet(NOTICE_STYLE)
        row = QHBoxLayout(banner)
        row.addWidget(self.notice_label, 1)
        row.addWidget(self.notice_dismiss)
        self.notice_dismiss.clicked.connect(banner.hide)
        banner.setVisible(bool(notices))
        self.notice_banner = banner
        return banner

    def open_bed(self, bed_id: str) -> None:
        """Show a bed in the Bed tab."""
        self.bed_view.show_bed(bed_id)
        self.tabs.setCurrentWidget(self.bed_view)

    def add_bed(self) -> BedDialog:
        """Open the dialog for a new bed (non-blocking); the bed is added when it is accepted."""
        return self._open_dialog(None)

    def edit_bed(self, bed_id: str) -> BedDialog:
        """Open the dialog for an existing bed (non-blocking): edit or remove it."""
        return self._open_dialog(bed_id)

    def refresh(self) -> None:
        """Show the most urgent alarm across beds in the banner, and the audio pause's time left."""
        self.alarm_banner.set_alarms([
            BannerAlarm(r.bed_id, r.config.name, r.alarms.signal, r.pain_alarm_pending)
            for r in self.monitor.beds if r.alarms.alarms])
        self.alarm_banner.set_audio_pause(self.monitor.audio_pause_left())

    def show_model(self, info: ModelInfo) -> None:
        """Banner: why no model runs, or that the model is not for clinical use or has no description of
        its training faces (hidden for a described clinical model), and when it is not the model the settings
        name, why (the demo model in its place). Replay analyses videos with the same model."""
        self.replay.set_settings(analysis_settings(dataclasses.replace(self.monitor.settings,
                                                                       model_path=info.path)))
        if info.error is not None or info.card is None:
            self.model_banner.setStyleSheet(ERROR_STYLE)
            self.model_banner.setText(f"No pain scores: {info.error}")
            self.model_banner.setVisible(True)
            return
        card = info.card
        self.model_banner.setStyleSheet(BANNER_STYLE)
        warnings = [info.notice] if info.notice else []
        warnings += [] if card.clinical_use else ["NOT FOR CLINICAL USE"]
        warnings += [] if card.applicability else [UNKNOWN]
        self.model_banner.setText(f"{' — '.join(warnings)} — model {card.name} {card.version} "
                                  "(its card: Settings)")
        self.model_banner.setToolTip(card.intended_use)
        self.model_banner.setVisible(bool(warnings))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        """Stop replay and the monitor (workers, sessions, record) before the window goes; while beds are
        monitored, only once the person closing it has confirmed (`close_without_asking` does not ask)."""
        if self.monitor.beds and not self._close_confirmed and not self._confirm_close():
            event.ignore()
            return
        self.replay.shutdown()
        self.monitor.close()
        super().closeEvent(event)

    def close_without_asking(self) -> None:
        """Close now, without the question: for SIGTERM and the other closing signals, and the end of
        `run_gui`."""
        self._close_confirmed = True
        self.close()

    def _confirm_close(self) -> bool:
        names = ", ".join(runtime.config.name for runtime in self.monitor.beds)
        return confirm(self, f"Close painmon? Monitoring and alarms stop for {names}.",
                       records_kept(self.monitor.settings.retention_days), "Close painmon")

    def _open_dialog(self, bed_id: str | None) -> BedDialog:
        runtime = self.monitor.bed(bed_id) if bed_id else None
        others = [r.config.name for r in self.monitor.beds if r.bed_id != bed_id]
        dialog = BedDialog(self, runtime.config if runtime else None, others,
                           retention_days=self.monitor.settings.retention_days)
        dialog.accepted.connect(lambda: self._dialog_done(dialog))
        self.bed_dialog = dialog
        dialog.open()
        return dialog

    def _dialog_done(self, dialog: BedDialog) -> None:
        config = dialog.config
        try:
            if config is None:
                return
            if dialog.remove:
                self.monitor.remove_bed(config.bed_id)
            elif dialog.original is not None:
                self.monitor.update_bed(config)
            else:
                self.monitor.add_bed(config)
        except PainmonError as exc:
            self.statusBar().showMessage(str(exc))
        self.bed_dialog = None


def analysis_settings(settings: MonitorSettings) -> AnalysisSettings:
    """The monitor's model, backend and device, for analysing recorded videos in replay."""
    return AnalysisSettings(checkpoint=Path(settings.model_path), backend=settings.backend,
                            device=settings.device or None)


def dark_palette() -> QPalette:
    """A dark palette: bedside monitors are dark so that alarm colours stand out and rooms stay dim."""
    palette = QPalette()
    roles = {QPalette.ColorRole.Window: "#262626", QPalette.ColorRole.WindowText: "#e0e0e0",
             QPalette.ColorRole.Base: "#1b1b1b", QPalette.ColorRole.AlternateBase: "#2c2c2c",
             QPalette.ColorRole.Text: "#e0e0e0", QPalette.ColorRole.Button: "#333333",
             QPalette.ColorRole.ButtonText: "#e0e0e0", QPalette.ColorRole.Highlight: "#1e88e5",
             QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#333333",
             QPalette.ColorRole.ToolTipText: "#e0e0e0", QPalette.ColorRole.PlaceholderText: "#8a8a8a"}
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    for role, colour in DISABLED_COLOURS.items():
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(colour))
    return palette


def has_display() -> bool:
    """False on a Linux machine without X11 / Wayland, where Qt would abort instead of opening a window."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_gui(args: argparse.Namespace | None = None) -> int:
    """Open the main window on the configured beds and run until it is closed."""
    if not has_display():
        raise PainmonError("no display to open the monitor on (DISPLAY / WAYLAND_DISPLAY unset); "
                           "run it on a desktop, or use `painmon analyze VIDEO --out scores.csv` headless")
    app = cast(QApplication, QApplication.instance() or QApplication(sys.argv[:1]))
    app.setApplicationName("painmon")
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    monitor = Monitor()
    window = MainWindow(monitor)
    window.showFullScreen() if args is not None and args.full_screen else window.show()
    # Each closes the app cleanly (sessions ended, record flushed) without asking: from the event loop, not
    # from inside whatever slot the Python signal handler happens to interrupt (the monitor's tick lets it
    # run). The window first: Qt's quit() would try to close it, which asks while beds are monitored.
    def quit_without_asking() -> None:
        window.close_without_asking()
        app.quit()

    for name in CLOSING_SIGNALS:
        if hasattr(signal, name):  # SIGHUP is POSIX only
            signal.signal(getattr(signal, name), lambda *_: QTimer.singleShot(0, quit_without_asking))
    code = app.exec()
    window.close_without_asking()  # stops replay and the monitor also when the event loop ended another way
    return code
