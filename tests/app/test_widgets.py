"""Monitor widgets as real Qt widgets under pytest-qt (offscreen): pain curve, sparkline, bed tile, banner."""

from __future__ import annotations

import itertools
import statistics
import time

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QPainterPath
from PySide6.QtWidgets import QPushButton, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from app.alarms import COLOURS, AlarmSignal, Priority
from app.series import ScoreSeries, with_gaps
from app.widgets.alarm_banner import AlarmBanner, BannerAlarm
from app.widgets.curve import WINDOWS, PainCurve
from app.widgets.flash import NEUTRAL_BACKGROUND, NEUTRAL_BORDER
from app.widgets.image import bgr_to_qimage
from app.widgets.sparkline import Sparkline
from app.widgets.tile import BedTile
from tests.helpers import click_at, show

T0 = 1_750_000_000.0
PAIN = AlarmSignal(Priority.MEDIUM, flashing=True, text="Pain ≥ 3 for 10 s")
PAIN_ACKNOWLEDGED = AlarmSignal(Priority.MEDIUM, flashing=False, text="Pain ≥ 3 for 10 s (acknowledged)")
NO_FACE = AlarmSignal(Priority.LOW, flashing=False, text="No face for 30 s")
HIGH = AlarmSignal(Priority.HIGH, flashing=True, text="high")


Gap = tuple[float, float]


def session(n: int, rate_hz: float = 10.0) -> tuple[np.ndarray, np.ndarray, Gap, Gap]:
    """n samples at rate_hz with a no-face run (NaN) at 25–30 % and 60 s without frames at 60 %.

    Returns t, score and the two gaps as (last time before, first time after)."""
    t = T0 + np.arange(n) / rate_hz
    score = 2.5 + 2.0 * np.sin(np.arange(n) / 50.0)
    a, b, c = int(0.25 * n), int(0.30 * n), int(0.60 * n)
    score[a:b] = np.nan
    t[c:] += 60.0
    return t, score, (t[a - 1], t[b]), (t[c - 1], t[c])


def segments_crossing(curve: PainCurve, gap: tuple[float, float]) -> int:
    """Drawn line segments of the plotted path that bridge the open interval `gap`."""
    path = curve.curve.curve.getPath()
    points = [path.elementAt(i) for i in range(path.elementCount())]
    lo, hi = gap[0] + 1e-3, gap[1] - 1e-3
    line_to = QPainterPath.ElementType.LineToElement
    return sum(1 for p, q in itertools.pairwise(points)
               if q.type == line_to and min(p.x, q.x) < hi and max(p.x, q.x) > lo)


def shown_curve(qtbot: QtBot, **kwargs: object) -> PainCurve:
    return show(qtbot, PainCurve(**kwargs), 900, 400)  # type: ignore[arg-type]


# -- series -------------------------------------------------------------------------------------------
def test_series_grows_and_marks_frame_less_stretches() -> None:
    series = ScoreSeries(capacity=2)
    series.extend(T0, 1.0)
    series.extend(np.array([T0 + 1, T0 + 10]), np.array([np.nan, 3.0]))
    assert len(series) == 3 and series.t[-1] == T0 + 10
    with pytest.raises(ValueError, match="must not go back"):
        series.extend(T0 + 5, 1.0)
    t, y = with_gaps(series.t, series.score, max_gap_s=2.0)
    assert list(t) == [T0, T0 + 1, T0 + 1, T0 + 10]
    assert np.isnan(y[1:3]).all() and y[3] == 3.0


# -- pain curve ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [600, 36_000])  # 1 min at 10 Hz, and 1 h that gets peak-downsampled
def test_curve_draws_gaps_as_breaks_never_as_zero(qtbot: QtBot, n: int) -> None:
    curve = shown_curve(qtbot, window="Session")
    t, score, no_face, no_frames = session(n)
    curve.set_data(t, score)
    x, y = curve.curve.getOriginalDataset()  # the samples, with a NaN marking the frame-less minute
    inside_no_face = (x > no_face[0]) & (x < no_face[1])
    assert inside_no_face.any() and np.isnan(y[inside_no_face]).all()
    after = int(np.searchsorted(x, no_frames[1]))
    assert x[after - 2] == no_frames[0] and np.isnan(y[after - 1])
    _, drawn_y = curve.curve.getData()  # after clipping to the view and peak downsampling
    assert np.isnan(drawn_y).any() and not np.any(drawn_y == 0.0)
    assert segments_crossing(curve, no_face) == 0
    assert segments_crossing(curve, no_frames) == 0
    assert segments_crossing(curve, (t[10], t[20])) > 0  # continuous data is joined


@pytest.mark.parametrize("chunk", [1, 7, 250])
def test_a_live_curve_marks_gaps_as_samples_arrive_and_hands_the_plot_only_what_it_may_show(
        qtbot: QtBot, chunk: int) -> None:
    curve = shown_curve(qtbot, window="1 min", live=True)
    t, score, no_face, no_frames = session(6000)  # 10 min at 10 Hz
    for start in range(0, len(t), chunk):  # as display ticks deliver them
        curve.append(t[start:start + chunk], score[start:start + chunk])
    whole = with_gaps(t, score)
    x, y = curve.curve.getOriginalDataset()
    assert len(x) < 0.25 * len(whole[0])  # while following one minute live: the last two, not ten
    assert np.array_equal(x, whole[0][-len(x):]) and np.array_equal(y, whole[1][-len(y):], equal_nan=True)
    curve.view_box.translateBy(x=-300.0)  # panned back by hand: everything, gaps as breaks
    curve.view_box.sigRangeChangedManually.emit(curve.view_box.state["mouseEnabled"])
    x, y = curve.curve.getOriginalDataset()
    assert np.array_equal(x, whole[0]) and np.array_equal(y, whole[1], equal_nan=True)
    curve.set_window("Session")
    assert segments_crossing(curve, no_face) == 0 and segments_crossing(curve, no_frames) == 0


def test_labels_of_markers_close_in_time_never_cover_one_another(qtbot: QtBot) -> None:
    """A nurse's try: "Note: test n…" ran into "Analgesic given" on the live and replay curves."""
    curve = shown_curve(qtbot, window="5 min")
    t, score, _, _ = session(3000)
    curve.set_data(t, score)
    labels = ["Analgesic given", "Note: test note", "Repositioned", "Procedure"]
    curve.set_annotations([(float(t[-600]) + 2.0 * i, label) for i, label in enumerate(labels)])
    qtbot.wait(50)

    def boxes() -> list:
        return [line.label.sceneBoundingRect() for line in curve._marker_items]

    def overlaps() -> list[tuple[object, object]]:
        pairs = itertools.combinations(boxes(), 2)
        return [(a, b) for a, b in pairs if a.intersects(b)]

    assert overlaps() == []
    assert len({round(rect.top()) for rect in boxes()}) > 1  # staggered, not all on one line
    curve.set_window("15 min")  # closer still on the screen: laid out again
    qtbot.wait(50)
    assert overlaps() == []


def test_clicking_the_curve_emits_the_time_under_the_mouse(qtbot: QtBot) -> None:
    curve = shown_curve(qtbot, window="1 min")
    t, score, _, _ = session(600)
    curve.set_data(t, score)
    lo, hi = curve.x_range()
    seconds_per_pixel = (hi - lo) / curve.view_box.width()
    target = lo + 0.37 * (hi - lo)
    with qtbot.waitSignal(curve.time_clicked, timeout=2000) as blocker:
        click_at(qtbot, curve, target)
    assert abs(blocker.args[0] - target) <= 1.5 * seconds_per_pixel

    with qtbot.assertNotEmitted(curve.time_clicked, wait=100):
        click_at(qtbot, curve, target, button=Qt.MouseButton.RightButton)
    with qtbot.assertNotEmitted(curve.time_clicked, wait=100):  # on the time axis, below the plot
        below = curve.view_box.sceneBoundingRect().bottomLeft() + QPointF(100, 10)
        qtbot.mouseClick(curve.plot.viewport(), Qt.MouseButton.LeftButton, pos=curve.plot.mapFromScene(below))


def test_window_buttons_set_the_visible_range_and_follow_new_samples(qtbot: QtBot) -> None:
    curve = shown_curve(qtbot, window="5 min")
    t = T0 + np.arange(0.0, 7200.0, 1.0)  # two hours at 1 Hz
    curve.set_data(t, np.full(len(t), 2.0))
    buttons = {b.text(): b for b in curve.window_buttons.buttons()}
    assert list(buttons) == list(WINDOWS)
    assert curve.x_range() == pytest.approx((t[-1] - 300, t[-1]))
    for name, span in [("1 min", 60), ("15 min", 900), ("60 min", 3600)]:
        qtbot.mouseClick(buttons[name], Qt.MouseButton.LeftButton)
        assert curve.window == name and buttons[name].isChecked()
        assert curve.x_range() == pytest.approx((t[-1] - span, t[-1]))
    qtbot.mouseClick(buttons["Session"], Qt.MouseButton.LeftButton)
    assert curve.x_range() == pytest.approx((t[0], t[-1]))

    qtbot.mouseClick(buttons["1 min"], Qt.MouseButton.LeftButton)
    curve.append(t[-1] + 30, 3.0)  # live: the window follows the newest sample
    assert curve.x_range() == pytest.approx((t[-1] + 30 - 60, t[-1] + 30))
    with pytest.raises(ValueError, match="unknown window"):
        curve.set_window("2 min")
    with pytest.raises(ValueError, match="unknown window '2 min'; choose from 1 min, 5 min"):
        PainCurve(window="2 min")


def test_a_live_curves_time_axis_moves_on_while_no_sample_comes(qtbot: QtBot) -> None:
    """A nurse's try: during a privacy pause the bed view's time axis stood still at the pause's start."""
    live, replay = shown_curve(qtbot, window="1 min", live=True), shown_curve(qtbot, window="1 min")
    t = T0 + np.arange(0.0, 300.0, 1.0)
    for curve in (live, replay):
        curve.set_data(t, np.full(len(t), 2.0))
        curve.set_now(t[-1] + 120.0)  # two minutes without a sample
    assert live.x_range() == pytest.approx((t[-1] + 60.0, t[-1] + 120.0))
    assert replay.x_range() == pytest.approx((t[-1] - 60.0, t[-1]))  # a replayed record has no "now"


def test_panning_stops_following_until_a_window_is_picked(qtbot: QtBot) -> None:
    curve = shown_curve(qtbot, window="1 min")
    t = T0 + np.arange(0.0, 600.0, 1.0)
    curve.set_data(t, np.full(len(t), 2.0))
    centre = curve.plot.mapFromScene(curve.view_box.sceneBoundingRect().center())
    # pyqtgraph's scene only starts a drag from synthetic events after it has seen a first click there.
    qtbot.mouseClick(curve.plot.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mousePress(curve.plot.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    for step in range(1, 11):
        qtbot.mouseMove(curve.plot.viewport(), centre + QPoint(20 * step, 0), delay=10)
    qtbot.mouseRelease(curve.plot.viewport(), Qt.MouseButton.LeftButton, pos=centre + QPoint(200, 0))
    qtbot.waitUntil(lambda: curve.x_range()[1] < t[-1] - 5, timeout=2000)  # dragged right: earlier times
    panned = curve.x_range()
    curve.append(t[-1] + 1, 2.0)
    assert curve.x_range() == pytest.approx(panned)  # not yanked back to the newest sample
    curve.set_window("1 min")
    assert curve.x_range() == pytest.approx((t[-1] + 1 - 60, t[-1] + 1))


def test_threshold_alarm_spans_markers_and_cursor(qtbot: QtBot) -> None:
    curve = shown_curve(qtbot, window="5 min")
    t = T0 + np.arange(0.0, 1200.0, 1.0)
    curve.set_data(t, np.full(len(t), 2.0))

    curve.set_threshold(3.0)
    assert curve.threshold_line.isVisible() and curve.threshold_line.value() == 3.0
    curve.set_threshold(None)
    assert not curve.threshold_line.isVisible()

    curve.set_alarm_spans([(T0 + 100, T0 + 200), (T0 + 1100, None)])
    assert curve.alarm_spans == [(T0 + 100, T0 + 200), (T0 + 1100, t[-1])]
    curve.append(t[-1] + 5, 4.0)
    assert curve.alarm_spans[1] == (T0 + 1100, t[-1] + 5)  # an ongoing alarm grows with the curve
    colour = curve._spans[0][2].brush.color()
    assert colour.name() == QColor(COLOURS[Priority.MEDIUM]).name()

    curve.set_annotations([(T0 + 50, "Analgesic given"), (T0 + 70, "Repositioned")])
    curve.add_annotation(T0 + 90, "Note: family visiting")
    assert curve.markers == [(T0 + 50, "Analgesic given"), (T0 + 70, "Repositioned"),
                             (T0 + 90, "Note: family visiting")]
    curve.set_annotations([])
    assert curve.markers == []

    assert curve.cursor_time() is None
    curve.set_cursor(T0 + 100)  # outside the 5-minute view of the newest samples: the view pages to it
    assert curve.cursor_time() == T0 + 100
    assert curve.x_range() == pytest.approx((T0 + 100 - 150, T0 + 100 + 150))
    curve.set_cursor(T0 + 120)  # still visible: the view stays put
    assert curve.x_range() == pytest.approx((T0 + 100 - 150, T0 + 100 + 150))
    curve.set_cursor(None)
    assert curve.cursor_time() is None


def test_sparkline_shows_the_last_minutes_with_gaps(qtbot: QtBot) -> None:
    spark = Sparkline(span_s=400.0)
    qtbot.addWidget(spark)
    t, score, no_face, no_frames = session(6000)  # 10 min at 10 Hz, then 1 min without frames, 4 min
    spark.set_data(t, score)
    x, y = spark.curve.getOriginalDataset()
    assert x[0] >= t[-1] - 400.0 > no_face[1] and x[-1] == t[-1]  # the no-face run is older
    after = int(np.searchsorted(x, no_frames[1]))
    assert x[after - 2] == no_frames[0] and np.isnan(y[after - 1])  # the frame-less minute is a break
    lo, hi = spark.getPlotItem().getViewBox().viewRange()[0]
    assert (lo, hi) == pytest.approx((t[-1] - 400.0, t[-1]))
    spark.set_data(np.array([]), np.array([]))
    assert len(spark.curve.getOriginalDataset()[0] or []) == 0


def test_sparkline_redraws_once_its_newest_sample_is_a_second_newer_or_the_history_is_new(qtbot) -> None:
    spark = Sparkline(redraw_s=1.0)
    qtbot.addWidget(spark)
    t = T0 + np.arange(0, 10, 0.1)
    score = np.full(len(t), 2.0)

    def drawn_until(count: int) -> float:
        spark.set_data(t[:count], score[:count])
        return float(spark.curve.getOriginalDataset()[0][-1])

    assert drawn_until(50) == t[49]
    assert drawn_until(59) == t[49]  # 0.9 s newer: the trend as it was
    assert drawn_until(60) == t[59]  # a second newer
    assert drawn_until(20) == t[19]  # an older newest sample: a new history (a restart, another stay)


# -- bed tile -----------------------------------------------------------------------------------------
def shown_tile(qtbot: QtBot, bed_id: str = "b1") -> BedTile:
    return show(qtbot, BedTile(bed_id, "Bed 1"), 420, 300)


def tile_colours(tile: BedTile) -> tuple[str, str]:
    """(border, background) as rendered: a border pixel, and a background pixel beside the score."""
    image = tile.grab().toImage()
    score = tile.score_label.geometry()
    border = image.pixelColor(1, tile.height() // 2)
    background = image.pixelColor(score.right() - 2, score.top() + 2)
    return border.name(), background.name()


def test_tile_colour_follows_the_alarm_state(qtbot: QtBot) -> None:
    tile = shown_tile(qtbot)
    neutral = (QColor(NEUTRAL_BORDER).name(), QColor(NEUTRAL_BACKGROUND).name())
    assert tile_colours(tile) == neutral

    cyan = QColor(COLOURS[Priority.LOW]).name()
    tile.set_alarm(NO_FACE)  # low priority (technical): a steady cyan border, no fill to outshout pain
    assert tile_colours(tile) == (cyan, neutral[1])
    with qtbot.assertNotEmitted(tile.flasher.changed, wait=1200):
        pass
    assert tile_colours(tile) == (cyan, neutral[1]) and tile.alarm_label.full_text() == NO_FACE.text

    yellow = QColor(COLOURS[Priority.MEDIUM]).name()
    tile.set_alarm(PAIN)  # medium: yellow border, background flashing yellow / neutral
    seen = set()
    for _ in range(2):
        seen.add(tile_colours(tile))
        qtbot.waitSignal(tile.flasher.changed, timeout=2000).wait()
    assert seen == {(yellow, yellow), (yellow, neutral[1])}

    tile.set_alarm(PAIN_ACKNOWLEDGED)  # acknowledged: steady yellow
    assert tile_colours(tile) == (yellow, yellow)
    tile.set_alarm(AlarmSignal())
    assert tile_colours(tile) == neutral and tile.alarm_label.full_text() == ""


def contrast_ratio(label: QWidget, background: QColor) -> float:
    """WCAG contrast ratio between a label's background and the rendered pixel of its text that differs most
    from it."""
    image = label.grab().toImage()

    def luminance(colour: QColor) -> float:
        channels = [c / 255 for c in (colour.red(), colour.green(), colour.blue())]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    back = luminance(background)
    pixels = itertools.product(range(image.width()), range(image.height()))
    text = max((luminance(image.pixelColor(x, y)) for x, y in pixels), key=lambda lum: abs(lum - back))
    return (max(back, text) + 0.05) / (min(back, text) + 0.05)


@pytest.mark.parametrize("signal", [AlarmSignal(), NO_FACE, PAIN_ACKNOWLEDGED, HIGH])
def test_why_there_is_no_score_and_the_face_quality_can_be_read_on_every_alarm_colour(
        qtbot: QtBot, signal: AlarmSignal) -> None:
    tile = shown_tile(qtbot)
    tile.set_score(float("nan"))
    tile.set_reading("model not applicable", 0.6)  # borderline quality: amber on the neutral background
    tile.set_alarm(signal)
    background = tile.grab().toImage().pixelColor(tile.score_label.geometry().topRight() + QPoint(-2, 2))
    for label in (tile.reading.reason, tile.reading.quality):
        assert label.isVisible() and label.text()
        assert contrast_ratio(label, background) >= 4.5, (label.text(), background.name())  # WCAG AA


@pytest.mark.parametrize(("signal", "low_hz", "high_hz"), [(PAIN, 0.4, 0.8), (HIGH, 1.4, 2.8)])
def test_tile_flashes_at_the_iec_rate(qtbot: QtBot, signal: AlarmSignal, low_hz: float, high_hz: float
                                      ) -> None:
    tile = shown_tile(qtbot)
    other = shown_tile(qtbot, "b2")
    tile.set_alarm(signal)
    other.set_alarm(signal)
    toggles: list[float] = []
    tile.flasher.changed.connect(lambda _: toggles.append(time.monotonic()))
    qtbot.waitUntil(lambda: len(toggles) >= 4, timeout=int(4000 / low_hz))
    intervals = np.diff(toggles)
    hz = 1.0 / (2.0 * statistics.median(intervals))  # two toggles per flash period
    assert low_hz <= hz <= high_hz, f"measured {hz:.2f} Hz from toggle intervals {intervals}"
    assert tile.flasher.on == other.flasher.on  # tiles at one rate flash in step


def test_tile_shows_a_frame_score_and_status_and_reports_clicks(qtbot: QtBot, face_frames: list[np.ndarray]
                                                                ) -> None:
    tile = shown_tile(qtbot)
    frame = face_frames[0]  # 640×360 BGR
    tile.set_frame(frame)
    pixmap = tile.thumbnail.pixmap()
    assert (pixmap.width(), pixmap.height()) == (tile.thumbnail.width(), tile.thumbnail.height())
    small = cv2.resize(frame, (pixmap.width(), pixmap.height()), interpolation=cv2.INTER_AREA)
    shown = pixmap.toImage().pixelColor(96, 54)
    b, g, r = (int(v) for v in small[54, 96])
    assert abs(shown.red() - r) < 25 and abs(shown.green() - g) < 25 and abs(shown.blue() - b) < 25
    tile.set_frame(None)
    assert tile.thumbnail.text() == "no video"

    tile.set_score(3.14159)
    assert tile.score_label.text() == "3.1"
    tile.set_score(float("nan"))
    assert tile.score_label.text() == "—"  # no face: a dash, never 0
    tile.set_status("no face")
    assert tile.status_label.full_text() == "no face"
    t, score, _, _ = session(300)
    tile.set_history(t, score)
    assert len(tile.sparkline.curve.getOriginalDataset()[0]) > 0

    with qtbot.waitSignal(tile.clicked, timeout=1000) as blocker:
        qtbot.mouseClick(tile, Qt.MouseButton.LeftButton, pos=tile.rect().center())
    assert blocker.args == ["b1"]


def test_bgr_frames_become_rgb_images() -> None:
    frame = np.zeros((4, 6, 3), np.uint8)
    frame[..., 2] = 255  # red in BGR
    image = bgr_to_qimage(frame[:, ::-1])  # a non-contiguous view works too
    assert (image.width(), image.height()) == (6, 4)
    assert image.pixelColor(0, 0).name() == "#ff0000"
    with pytest.raises(ValueError, match="BGR uint8"):
        bgr_to_qimage(np.zeros((4, 6), np.uint8))


# -- alarm banner -------------------------------------------------------------------------------------
def test_banner_shows_the_most_urgent_alarm_and_its_actions(qtbot: QtBot) -> None:
    window = show(qtbot, QWidget(), 900, 300)
    banner = AlarmBanner()
    below = QPushButton("under the banner")
    layout = QVBoxLayout(window)
    layout.addWidget(banner)
    layout.addWidget(below)
    layout.addStretch(1)
    qtbot.wait(50)
    places = (banner.geometry(), below.geometry())
    assert banner.isVisible() and banner.text_label.text() == "No alarms"  # its place, neutral, idle
    assert not banner.acknowledge_button.isEnabled() and not banner.audio_pause_button.isEnabled()
    banner.set_alarms([BannerAlarm("b2", "Bed 2", NO_FACE, can_acknowledge=False),
                       BannerAlarm("b3", "Bed 3", PAIN_ACKNOWLEDGED, can_acknowledge=False),
                       BannerAlarm("b1", "Bed 1", PAIN, can_acknowledge=True)])
    qtbot.wait(50)
    assert (banner.geometry(), below.geometry()) == places  # an alarm moves nothing under a click
    assert banner.text_label.text() == "Bed 1: Pain ≥ 3 for 10 s"
    assert banner.more_label.text() == "+2 more"
    assert banner.flasher.signal == PAIN and banner.flasher.interval_ms > 0
    with qtbot.waitSignal(banner.acknowledge_requested, timeout=1000) as blocker:
        qtbot.mouseClick(banner.acknowledge_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["b1"]
    with qtbot.waitSignal(banner.audio_pause_requested, timeout=1000):
        qtbot.mouseClick(banner.audio_pause_button, Qt.MouseButton.LeftButton)

    banner.set_alarms([BannerAlarm("b2", "Bed 2", NO_FACE, can_acknowledge=False)])
    assert banner.text_label.text() == "Bed 2: No face for 30 s" and banner.more_label.text() == ""
    assert not banner.acknowledge_button.isEnabled()  # technical alarms clear themselves
    banner.set_audio_pause(105.0)  # the audio-paused indication: a crossed bell and the time left
    assert banner.audio_text.isVisible() and banner.audio_text.text() == "Audio paused 1:45"
    assert banner.audio_pause_button.text() == "Audio paused 1:45"
    assert not banner.audio_pause_button.icon().isNull() and not banner.audio_icon.pixmap().isNull()
    qtbot.wait(50)
    assert (banner.geometry(), below.geometry()) == places
    banner.set_audio_pause(0.0)
    assert banner.audio_text.isHidden() and banner.audio_pause_button.text() == "Pause audio 2 min"
    assert banner.audio_pause_button.icon().isNull()
    banner.set_alarms([])
    assert banner.isVisible() and banner.text_label.text() == "No alarms"
    assert not banner.acknowledge_button.isEnabled() and not banner.audio_pause_button.isEnabled()
    assert banner.flasher.signal == AlarmSignal()
    qtbot.wait(50)
    assert (banner.geometry(), below.geometry()) == places
