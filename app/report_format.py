"""Numbers, durations and model cards as people read them, for the exports and the Settings view (no Qt).

No scientific notation ("1.5e+03"), no raw dicts or lists ("{'mae': 0.74}"): durations are h:mm:ss, counts
have thousands separators, scores two decimals, other numbers three significant digits written out, and a
model card's fields are (label, text) lines.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from engine.model_card import ModelCard

NONE = "—"
"""What stands for a value that is missing or not a number."""
ACRONYMS = frozenset({"mae", "mse", "rmse", "wmae", "wmse", "pcc", "icc", "auc", "f1", "au", "aus", "lr"})
"""Metric and field names written in capitals."""


def duration(seconds: float) -> str:
    """h:mm:ss (whole seconds from a minute on; tenths below it: 0:00:39.5); "—" for NaN."""
    if not math.isfinite(seconds):
        return NONE
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"0:00:{seconds:04.1f}"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}"


def count(n: int) -> str:
    """A count with thousands separators: 13,466."""
    return f"{int(n):,}"


def score(value: float) -> str:
    """A pain score to two decimals; "—" for NaN (no score)."""
    return f"{value:.2f}" if math.isfinite(value) else NONE


def percent(part: float, whole: float) -> str:
    """part as a whole percentage of whole: "67 %"; "—" when whole is 0."""
    return f"{100 * part / whole:.0f} %" if whole else NONE


def number(value: float | np.number[Any]) -> str:
    """Any number written out: integers with thousands separators, others to three significant digits
    (0.742, 23.1, 0.0005, 1,500); "—" for NaN."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return count(int(value))
    value = float(value)
    if not math.isfinite(value):
        return NONE if math.isnan(value) else ("∞" if value > 0 else "−∞")
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return str(np.format_float_positional(value, precision=3, fractional=False, trim="-"))


def label(key: str) -> str:
    """A field name for people: per_subject_mean → per subject mean, mae → MAE."""
    return " ".join(word.upper() if word.lower() in ACRONYMS else word for word in str(key).split("_"))


def readable(value: Any) -> str:
    """Any JSON-like value as one line of text: mappings as "KEY value" pairs, sequences joined by commas,
    numbers by `number`, booleans as yes / no, None as "—"."""
    if value is None:
        return NONE
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return ", ".join(f"{label(k)} {readable(v)}" for k, v in value.items()) or NONE
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(readable(v) for v in value) or NONE
    if isinstance(value, bool | int | float | np.number):
        return number(value)
    return str(value)


def card_rows(card: ModelCard) -> list[tuple[str, str]]:
    """The model card as (label, text) lines: architecture, provenance, use, one line per metric (nested
    metrics on one line each), applicability and when it was made."""
    rows = [("Model", f"{card.name} {card.version}"),
            ("Backbone", f"{card.backbone} ({card.pretrained or 'trained from scratch'})"),
            ("Input", f"{card.input_size[0]}×{card.input_size[1]} aligned face")]
    if card.aus:
        rows.append(("Action units", ", ".join(f"AU{au}" for au in card.aus)))
    if card.members:
        members = [f"{m.get('backbone', '?')} ({m.get('pretrained') or 'trained from scratch'})"
                   for m in card.members]
        rows.append(("Ensemble", f"{count(len(members))} members: {', '.join(members)}"))
    rows += [("Trained on", card.trained_on), ("Intended use", card.intended_use),
             ("Clinical use", "yes" if card.clinical_use else "NO — not a medical device")]
    metrics = [_capitalised(f"{label(k)}: {readable(v)}") for k, v in sorted(card.metrics.items())]
    metrics = metrics or ["none reported"]
    rows += [("Metrics" if i == 0 else "", line) for i, line in enumerate(metrics)]
    rows += [("Applicability", card.applicability_text()), ("Created", local_time(card.created))]
    return rows


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def local_time(iso: str) -> str:
    """An ISO 8601 time as local date and time to the minute; the text itself if it is not one."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return (moment.astimezone() if moment.tzinfo is not None else moment).strftime("%Y-%m-%d %H:%M")
