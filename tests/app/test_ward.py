"""The ward as a central station, in the real window (pytest-qt, offscreen, simulated patients, no model so
every frame is a sample): 16 beds at 1280×720 without scrolling, tiles that grow with the screen, the alarm
limit and score colour on each tile, beds in alarm first, technical alarms below clinical ones."""

from __future__ import annotations

import math

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor
from pytestqt.qtbot import QtBot

from app.alarms import COLOURS, AlarmConfig, AlarmKind, AlarmSignal, BedAlarms, Priority
from app.bed_runtime import BedRuntime
from app.beds import BedConfig, Source
from app.ward_view import bed_status_text, grid_shape
from app.widgets.flash import NEUTRAL_BACKGROUND
from app.widgets.tile import DIGITS, BedTile, level_colour
from tests.helpers import LIVE_TIMEOUT_MS, show

pytestmark = pytest.mark.usefixtures("no_model")


def ward(open_window, beds: int, size: tuple[int, int]):
    window = open_window([BedConfig(f"Bed {i + 1}", Source.simulated(i),
                                    alarms=AlarmConfig(threshold=2.5 + 0.5 * (i % 2)))
                          for i in range(beds)])
    window.resize(*size)
    return window


def visible_in(tile: BedTile, area: QRect) -> bool:
    """Whether the whole tile lies inside `area` (in the tile's parent's coordinates)."""
    return area.contains(tile.geometry())


def reading_order(view) -> list[str]:
    """Bed ids of the ward's tiles as laid out, row by row."""
    return sorted(view.tiles, key=lambda bed_id: (view.tiles[bed_id].y(), view.tiles[bed_id].x()))


@pytest.mark.parametrize(("beds", "width", "height", "shape"), [
    (16, 1240, 540, (4, 4)), (4, 1240, 540, (2, 2)), (2, 1240, 540, (1, 2)), (1, 800, 600, (1, 1)),
    (6, 1240, 540, (2, 3)), (16, 3800, 1900, (4, 4)), (3, 600, 1200, (3, 1))])
def test_the_grid_gives_the_tiles_the_most_room(beds: int, width: int, height: int, shape: tuple[int, int]
                                                ) -> None:
    assert grid_shape(beds, width, height) == shape


def test_sixteen_beds_are_all_visible_at_1280x720_and_fewer_beds_get_bigger_tiles(qtbot: QtBot, open_window
                                                                                  ) -> None:
    window = ward(open_window, 16, (1280, 720))
    view = window.ward
    qtbot.waitUntil(lambda: all(len(b.history) >= 3 for b in window.monitor.beds), timeout=LIVE_TIMEOUT_MS)
    qtbot.wait(200)
    viewport = view.scroll_area.viewport()
    assert not view.scroll_area.verticalScrollBar().isVisible()
    area = QRect(0, 0, viewport.width(), viewport.height())
    assert all(visible_in(tile, area) for tile in view.tiles.values())
    heights = {tile.height() for tile in view.tiles.values()}
    assert max(heights) - min(heights) <= 1 and min(heights) >= 110  # equal tiles
    window.monitor.timer.stop()  # no display tick repaints the tiles for a moment
    for tile in view.tiles.values():  # a reason that wraps in a small tile must not make the rows taller
        tile.set_reading("model not applicable to this patient's face", 1.0)
    qtbot.wait(200)
    assert not view.scroll_area.verticalScrollBar().isVisible()
    assert all(visible_in(tile, area) for tile in view.tiles.values())
    window.monitor.timer.start()
    for tile in view.tiles.values():  # status lines are cut to their tile ("…"), never widen it
        status = tile.status_label
        assert status.geometry().right() < tile.width() and status.full_text().startswith(status.text()[:-1])
    small = next(iter(view.tiles.values()))
    assert small.thumbnail.height() >= 0.35 * small.height() and small.thumbnail.pixmap() is not None
    digits_16 = small.score_label.font().pixelSize()
    window.close_without_asking()

    window = ward(open_window, 2, (1280, 720))
    qtbot.wait(300)
    big = next(iter(window.ward.tiles.values()))
    assert big.height() > 2.5 * small.height()
    assert big.score_label.font().pixelSize() > 2 * digits_16  # the digits grow with the tile
    assert [t.limit_label.text() for t in window.ward.tiles.values()] == ["alarm ≥ 2.5", "alarm ≥ 3.0"]


def test_beds_in_alarm_first_puts_the_alarming_bed_on_top(qtbot: QtBot, open_window, model_file) -> None:
    calm, alarming = AlarmConfig(threshold=5.0), AlarmConfig(threshold=0.1, delay_s=0.0)
    window = open_window([*(BedConfig(f"Bed {i + 1}", Source.simulated(i), alarms=calm) for i in range(3)),
                          BedConfig("Bed 4", Source.simulated(3), alarms=alarming)])
    window.resize(1280, 720)
    view = window.ward
    last = window.monitor.beds[-1]
    qtbot.waitUntil(lambda: last.alarms.has(AlarmKind.PAIN), timeout=LIVE_TIMEOUT_MS)
    assert view.order()[-1] == last.bed_id
    view.alarms_first.setChecked(True)
    assert view.order()[0] == last.bed_id
    qtbot.waitUntil(lambda: reading_order(view)[0] == last.bed_id, timeout=2000)  # laid out top left
    view.alarms_first.setChecked(False)
    assert view.order() == [b.bed_id for b in window.monitor.beds]
    qtbot.waitUntil(lambda: reading_order(view)[-1] == last.bed_id, timeout=2000)

    # the keys of a central station: audio pause, acknowledge, full screen
    qtbot.keyClick(window, Qt.Key.Key_F10)
    assert last.alarms.audio_paused
    qtbot.keyClick(window, Qt.Key.Key_F9)
    assert not last.pain_alarm_pending  # acknowledged (or, if its condition had just ended, over)
    qtbot.keyClick(window, Qt.Key.Key_F11)
    assert window.isFullScreen()
    qtbot.keyClick(window, Qt.Key.Key_F11)
    assert not window.isFullScreen()


def test_score_digits_are_coloured_by_level_against_the_limit_and_take_the_alarm_text_colour(qtbot: QtBot
                                                                                              ) -> None:
    assert [level_colour(s, 3.0) for s in (0.4, 1.5, 2.2, 3.0, 4.9, math.nan)] == [
        DIGITS["low"], DIGITS["plain"], DIGITS["near"], DIGITS["over"], DIGITS["over"], DIGITS["plain"]]
    tile = show(qtbot, BedTile("b1", "Bed 1"), 420, 300)
    tile.set_limit(3.0)
    tile.set_score(3.4)
    assert f"color: {DIGITS['over']}" in tile.score_label.styleSheet()
    tile.set_score(0.4)
    assert f"color: {DIGITS['low']}" in tile.score_label.styleSheet()
    tile.set_alarm(AlarmSignal(Priority.MEDIUM, flashing=False, text="Pain ≥ 3 for 10 s (acknowledged)"))
    assert "color" not in tile.score_label.styleSheet()  # on yellow the digits are the alarm's black


def test_a_technical_alarm_colours_only_the_border_while_pain_fills_the_tile(qtbot: QtBot) -> None:
    technical = show(qtbot, BedTile("b1", "Bed 1"), 420, 300)
    pain = show(qtbot, BedTile("b2", "Bed 2"), 420, 300)
    technical.set_alarm(AlarmSignal(Priority.LOW, flashing=False, text="Camera lost"))
    pain.set_alarm(AlarmSignal(Priority.MEDIUM, flashing=False, text="Pain ≥ 3 (acknowledged)"))

    def fill(tile: BedTile) -> str:
        return tile.grab().toImage().pixelColor(tile.width() - 10, tile.height() // 2).name()

    assert fill(technical) == QColor(NEUTRAL_BACKGROUND).name()
    assert fill(pain) == QColor(COLOURS[Priority.MEDIUM]).name()
    assert technical.grab().toImage().pixelColor(1, 150).name() == QColor(COLOURS[Priority.LOW]).name()


def test_a_bed_says_what_share_of_its_frames_is_skipped_only_when_it_matters() -> None:
    """A nurse's try: "86 dropped" after 30 s puzzled; a few frames are always skipped (only the newest one
    waits for the model)."""
    runtime = BedRuntime(BedConfig("Bed 1", Source.simulated(1)), BedAlarms(AlarmConfig()))
    runtime.source_ok = True
    runtime.captured, runtime.dropped = 900, 20  # 2 %: not worth a word
    assert "skipped" not in bed_status_text(runtime) and "dropped" not in bed_status_text(runtime)
    runtime.dropped = 360
    assert bed_status_text(runtime).endswith(" · 40 % of frames skipped")
    runtime.source_ok = False  # a lost camera says only that
    assert "skipped" not in bed_status_text(runtime)
