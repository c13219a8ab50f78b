"""Annotation labels on the exported curve (matplotlib, no Qt) laid out so that none covers another.

Each label is written level at the top of the plot, just right of its annotation's line (left of it where
it would leave the plot). Labels that would overlap are staggered into lanes downwards; when the lanes
(at most half the plot's height) are full, an annotation's label is collected into the one before it
("Note: grimace (+2 more)"), and the layout starts again with one label fewer, until everything fits.
Every annotation keeps its own line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.font_manager import FontProperties
from matplotlib.text import Text

FONT_SIZE = 8
GAP_PX = 4.0
"""Space between the line and its label, and between labels."""
LANE_SHARE = 0.5
"""Share of the plot's height that lanes of labels may take."""


@dataclass(frozen=True)
class _Placed:
    x: float  # the annotation's line: in data units
    text: str
    offset: float  # the label's left edge from its line, in pixels
    lane: int


def add_labels(axes: Axes, labels: Sequence[tuple[float, str]], renderer: RendererBase) -> list[Text]:
    """Write `labels` ((x in data units as plotted, text)) on `axes` so that none overlaps another; call
    once the figure's layout is final. Returns the text artists, one per label shown."""
    ordered = sorted(labels, key=lambda label: label[0])
    groups = [[text] for _, text in ordered]
    xs = [x for x, _ in ordered]
    font = FontProperties(size=FONT_SIZE)
    while True:
        placed, unplaced = _lay_out(axes, xs, [_group_text(group) for group in groups], font, renderer)
        if unplaced is None:
            break
        groups[unplaced - 1] += groups.pop(unplaced)  # collect it into the label before it
        xs.pop(unplaced)
    points = 72.0 / axes.figure.dpi
    lane_height = _text_size("Ag", font, renderer)[1] + GAP_PX
    return [axes.annotate(p.text, (p.x, 1.0), xycoords=axes.get_xaxis_transform(), textcoords="offset points",
                          xytext=(p.offset * points, -(GAP_PX + p.lane * lane_height) * points),
                          fontsize=FONT_SIZE, ha="left", va="top", color="#424242", parse_math=False,
                          bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none",
                                "alpha": 0.8})
            for p in placed]


def _group_text(group: list[str]) -> str:
    return group[0] if len(group) == 1 else f"{group[0]} (+{len(group) - 1} more)"


def _lay_out(axes: Axes, xs: list[float], texts: list[str], font: FontProperties, renderer: RendererBase
             ) -> tuple[list[_Placed], int | None]:
    """Each label's lane, in order; or the index of the first label no lane has room for (never the first:
    it always finds the lanes empty)."""
    lanes = max(1, int(axes.bbox.height * LANE_SHARE // (_text_size("Ag", font, renderer)[1] + GAP_PX)))
    taken: list[list[tuple[float, float]]] = [[] for _ in range(lanes)]
    placed: list[_Placed] = []
    for i, (x, text) in enumerate(zip(xs, texts, strict=True)):
        line = float(axes.transData.transform((x, 0.0))[0])
        width = _text_size(text, font, renderer)[0]
        left = line + GAP_PX if line + GAP_PX + width <= axes.bbox.x1 else line - GAP_PX - width
        right = left + width
        lane = next((n for n, spans in enumerate(taken)
                     if all(right + GAP_PX <= a or left >= b + GAP_PX for a, b in spans)), None)
        if lane is None:
            return placed, i
        taken[lane].append((left, right))
        placed.append(_Placed(x, text, left - line, lane))
    return placed, None


def _text_size(text: str, font: FontProperties, renderer: RendererBase) -> tuple[float, float]:
    """Width and height of a text in pixels as the renderer draws it."""
    width, height, _ = renderer.get_text_width_height_descent(text, font, ismath=False)
    return width, height
