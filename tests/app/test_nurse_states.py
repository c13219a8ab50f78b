"""States a nurse can see, through the real window over a live monitor (pytest-qt, offscreen; real simulated
and video-file sources in capture threads, a real record): the audio-paused countdown, the alarm banner's
fixed place, the privacy pause as a timed standby, buttons that look toggled and disabled, a video file that
ends or loops, and a pain curve that stays readable at 1280×720.

No model runs here (its file is missing): every frame still becomes a sample, which is all these need.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import cv2
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QPushButton

from app import alarms, bed_states
from app.alarms import AlarmKind
from app.bed_view import REMINDER_STYLE
from app.beds import BedConfig, Source, SourceKind, load_beds
from app.main_window import MainWindow, dark_palette
from app.monitor import STALE_AFTER_S
from app.record import RecordReader
from engine.status import FrameStatus
from tests.helpers import LIVE_TIMEOUT_MS

Window = Callable[..., MainWindow]


pytestmark = pytest.mark.usefixtures("no_model")


def short_clip(path: Path, clips_dir: Path, frames: int) -> Path:
    """The first `frames` frames of the real single_face.mp4 at 10 fps and 320×180."""
    source = cv2.VideoCapture(str(clips_dir / "single_face.mp4"))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 10.0, (320, 180))
    for _ in range(frames):
        writer.write(cv2.resize(source.read()[1], (320, 180)))
    writer.release()
    source.release()
    return path


def camera_lost(window: MainWindow) -> list[str]:
    return [e.event.message for e in window.monitor.alarm_log if e.event.kind is AlarmKind.CAMERA_LOST]


def pixels(button: QPushButton) -> Counter[str]:
    """How many pixels of each colour a button is drawn with."""
    image = button.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    width, height = image.width(), image.height()
    return Counter(QColor(image.pixel(x, y)).name() for x in range(width) for y in range(height))


def lightest(button: QPushButton) -> int:
    """The lightness of the lightest pixel of a button as drawn: its text on the dark palette."""
    return max(QColor(colour).lightness() for colour in pixels(button))


def most_common_colour(button: QPushButton) -> str:
    """The colour most of a button is drawn in: its background."""
    return pixels(button).most_common(1)[0][0]


def test_the_audio_paused_indication_counts_down_and_goes_when_the_pause_ends(
        qtbot, open_window: Window, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alarms, "AUDIO_PAUSE_S", 3.0)
    window = open_window(beds=[BedConfig("Bed 1", Source.simulated(seed=1))])
    banner = window.alarm_banner
    qtbot.waitUntil(banner.audio_pause_button.isEnabled, timeout=LIVE_TIMEOUT_MS)  # its model-error alarm
    idle = banner.audio_pause_button.text()
    assert banner.audio_text.isHidden()
    qtbot.mouseClick(banner.audio_pause_button, Qt.MouseButton.LeftButton)
    seen: list[str] = []

    def watch() -> bool:
        if banner.audio_text.isVisible() and banner.audio_text.text() not in seen:
            seen.append(banner.audio_text.text())
        return banner.audio_text.isHidden()

    assert banner.audio_text.isVisible() and banner.audio_text.text() == "Audio paused 0:03"
    assert banner.audio_pause_button.text() == "Audio paused 0:03" and not banner.audio_icon.pixmap().isNull()
    qtbot.waitUntil(watch, timeout=10_000)
    assert seen == ["Audio paused 0:03", "Audio paused 0:02", "Audio paused 0:01"]  # once a second, down
    assert banner.audio_pause_button.text() == idle and banner.audio_pause_button.icon().isNull()
    assert window.monitor.audio_pause_left() == 0.0


def test_the_banner_keeps_its_place_when_an_alarm_comes(qtbot, open_window: Window) -> None:
    window = open_window(beds=[])
    banner = window.alarm_banner
    qtbot.wait(100)
    places = (banner.geometry(), window.tabs.geometry())
    assert banner.isVisible() and banner.text_label.text() == "No alarms"
    assert not banner.acknowledge_button.isEnabled() and not banner.audio_pause_button.isEnabled()
    window.monitor.add_bed(BedConfig("Bed 1", Source.simulated(seed=1)))  # no model: a technical alarm
    qtbot.waitUntil(lambda: banner.text_label.text().startswith("Bed 1:"), timeout=LIVE_TIMEOUT_MS)
    qtbot.wait(100)
    assert banner.flasher.signal.colour is not None and banner.audio_pause_button.isEnabled()
    assert (banner.geometry(), window.tabs.geometry()) == places


def test_privacy_pause_is_a_timed_standby_that_reminds_then_resumes_on_its_own(
        qtbot, open_window: Window, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bed_states, "REMIND_BEFORE_S", 2.0)
    window = open_window(beds=[BedConfig("Bed 1", Source.simulated(seed=1))])
    bed = window.monitor.beds[0]
    tile = window.ward.tiles[bed.bed_id]
    view = window.bed_view
    window.open_bed(bed.bed_id)
    qtbot.waitUntil(lambda: len(bed.history) >= 3, timeout=LIVE_TIMEOUT_MS)

    # the button: the setting's 15 minutes, the button stays down; clicked again, monitoring resumes early
    qtbot.mouseClick(view.pause_button, Qt.MouseButton.LeftButton)
    assert bed.paused and view.pause_button.isChecked()
    qtbot.waitUntil(lambda: "privacy pause — resumes in 1" in tile.status_label.full_text(), timeout=5000)
    assert tile.status_label.full_text() in ("privacy pause — resumes in 15:00",
                                        "privacy pause — resumes in 14:59")
    assert view.status_label.styleSheet() != REMINDER_STYLE
    qtbot.mouseClick(view.pause_button, Qt.MouseButton.LeftButton)
    assert not bed.paused and not view.pause_button.isChecked()

    # a short pause: it counts down, reminds in its last seconds, and resumes by itself
    window.monitor.set_paused(bed.bed_id, True, for_s=4.0)
    window.monitor.tick()
    assert view.pause_button.isChecked()
    assert tile.status_label.full_text().startswith("privacy pause — resumes in")
    qtbot.waitUntil(lambda: tile.status_label.full_text().startswith("privacy pause ending — resumes in 0:0"),
                    timeout=5000)
    assert bed.paused and view.status_label.styleSheet() == REMINDER_STYLE
    assert "privacy pause ending" in view.status_label.full_text()
    paused_at = len(bed.history)
    qtbot.waitUntil(lambda: not bed.paused, timeout=5000)
    assert not view.pause_button.isChecked() and view.status_label.styleSheet() == ""
    qtbot.waitUntil(lambda: len(bed.history) >= paused_at + 3, timeout=LIVE_TIMEOUT_MS)  # watched again
    window.monitor.record.flush()
    with RecordReader() as reader:
        samples = reader.samples(reader.sessions()[-1].id)
    assert (samples.status == FrameStatus.PAUSED).sum() == 2 and samples.status[-1] != FrameStatus.PAUSED


def test_buttons_look_toggled_while_checked_and_grey_while_disabled(qtbot, open_window: Window) -> None:
    window = open_window(beds=[BedConfig("Bed 1", Source.simulated(seed=1))])
    window.setPalette(dark_palette())  # as the app runs
    view = window.bed_view
    window.open_bed(window.monitor.beds[0].bed_id)
    qtbot.wait(100)
    assert not view.acknowledge_button.isEnabled() and view.edit_button.isEnabled()  # no pain alarm
    assert lightest(view.acknowledge_button) < lightest(view.edit_button) - 60  # greyed, not just inert
    unchecked = most_common_colour(view.pause_button)
    qtbot.mouseClick(view.pause_button, Qt.MouseButton.LeftButton)
    qtbot.wait(100)
    assert view.pause_button.isChecked() and window.monitor.beds[0].paused
    assert most_common_colour(view.pause_button) != unchecked  # lit while the pause runs


def test_a_file_that_ends_says_video_ended_and_raises_no_camera_lost_alarm(
        qtbot, open_window: Window, clips_dir: Path, tmp_path: Path) -> None:
    clip = short_clip(tmp_path / "short.mp4", clips_dir, 15)  # 1.5 s
    window = open_window(beds=[BedConfig("Video bed", Source.file(clip))])
    bed = window.monitor.beds[0]
    tile = window.ward.tiles[bed.bed_id]
    qtbot.waitUntil(lambda: bed.status == "video ended", timeout=LIVE_TIMEOUT_MS)
    qtbot.wait(int((STALE_AFTER_S + 1.5) * 1000))  # long past the frame-age watchdog's limit
    assert bed.status == "video ended" and bed.reason == "video ended" and tile.thumbnail.text() == "no video"
    assert tile.status_label.full_text() == "video ended" and tile.reading.reason.text() == "video ended"
    assert camera_lost(window) == [] and not bed.alarms.has(AlarmKind.CAMERA_LOST)
    assert "ended" not in window.alarm_banner.text_label.text()  # informational, not an alarm
    window.monitor.record.flush()
    with RecordReader() as reader:
        samples = reader.samples(reader.sessions()[-1].id)
    assert samples.status[-1] == FrameStatus.VIDEO_ENDED
    assert (samples.status == FrameStatus.VIDEO_ENDED).sum() == 1  # once, no flapping


def test_a_looping_file_set_in_the_bed_dialog_plays_on_past_its_length(
        qtbot, open_window: Window, clips_dir: Path, tmp_path: Path) -> None:
    clip = short_clip(tmp_path / "loop.mp4", clips_dir, 10)  # 1 s
    window = open_window(beds=[])
    dialog = window.add_bed()
    dialog.name_edit.setText("Loop bed")
    dialog.set_source_kind(SourceKind.FILE)
    dialog.file_edit.setText(str(clip))
    assert dialog.loop_check.isVisible()
    dialog.loop_check.setChecked(True)
    dialog.accept()
    assert [(b.name, b.loop_video) for b in load_beds()] == [("Loop bed", True)]
    bed = window.monitor.beds[0]
    qtbot.waitUntil(lambda: len(bed.history) >= 5, timeout=LIVE_TIMEOUT_MS)
    first = float(bed.history.t[0])
    qtbot.waitUntil(lambda: float(bed.history.t[-1]) - first > 3.5, timeout=LIVE_TIMEOUT_MS)  # 3½ plays
    assert bed.status != "video ended" and camera_lost(window) == []
    assert len(bed.history) > 25  # frames kept coming after the file's 10


def test_the_bed_views_curve_stays_readable_at_1280_by_720(qtbot, open_window: Window) -> None:
    window = open_window(beds=[BedConfig("Bed 1", Source.simulated(seed=1))])
    window.resize(1280, 720)
    bed = window.monitor.beds[0]
    window.open_bed(bed.bed_id)
    qtbot.waitUntil(lambda: window.bed_view.video.pixmap() is not None
                    and not window.bed_view.video.pixmap().isNull(), timeout=LIVE_TIMEOUT_MS)
    qtbot.wait(500)  # a few frames: the picture must not push the curve down
    window.grab().save(str(Path("/tmp") / "states_bed_1280x720_test.png"))
    assert (window.width(), window.height()) == (1280, 720)
    assert window.bed_view.curve.plot.height() >= 250
    assert window.bed_view.video.height() >= 180


def test_a_lost_cameras_long_reason_never_widens_the_window(qtbot, open_window: Window) -> None:
    """A nurse's try: the bed view of a camera that does not exist pushed the window to 1361 px, cutting off
    the buttons on the right of every tab."""
    window = open_window(beds=[BedConfig("Bed 4", Source.camera(7))])
    window.resize(1280, 720)
    [bed] = window.monitor.beds
    window.open_bed(bed.bed_id)
    qtbot.waitUntil(lambda: "retrying" in window.bed_view.status_label.full_text(), timeout=LIVE_TIMEOUT_MS)
    qtbot.wait(200)
    assert window.width() <= 1280 and window.bed_view.status_label.text().endswith("…")


def test_pause_audio_again_lets_the_sound_back_at_once(qtbot, open_window: Window) -> None:
    """A nurse's try: clicking "Audio paused 1:59" restarted the two minutes instead of ending the pause."""
    window = open_window(beds=[BedConfig("Bed 1", Source.simulated(seed=1))])
    [bed] = window.monitor.beds
    button = window.alarm_banner.audio_pause_button
    qtbot.waitUntil(button.isEnabled, timeout=LIVE_TIMEOUT_MS)  # no model: a technical alarm to pause
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert bed.alarms.audio_paused
    qtbot.waitUntil(lambda: "Audio paused" in button.text(), timeout=5000)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert not bed.alarms.audio_paused
    qtbot.waitUntil(lambda: "Audio paused" not in button.text(), timeout=5000)
    logged = [e.event.transition.label for e in window.monitor.alarm_log]
    assert logged[-2:] == ["audio paused", "audio resumed"]
