"""The Prkachin–Solomon Pain Intensity (PSPI) and the papers' six pain levels (FACTS.md §3–4).

PSPI = AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43 on FACS intensities 0–5 (AU43 has no intensity: 1 when
present), 0–16. The papers map it to six levels: 0→0, 1→1, 2→2, 3→3, 4–5→4, ≥6→5. The AU model's graph
computes the same on tensors (engine.au).
"""

from __future__ import annotations

PSPI_AUS = (4, 6, 7, 9, 10, 43)
"""The action units PSPI adds up."""
MAX_INTENSITY = 5.0
"""FACS intensities A..E are coded 1..5."""


def pspi(aus: dict[int, float]) -> float:
    """Prkachin–Solomon pain intensity: AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43 (1 when present)."""
    return float(
        aus.get(4, 0.0)
        + max(aus.get(6, 0.0), aus.get(7, 0.0))
        + max(aus.get(9, 0.0), aus.get(10, 0.0))
        + (1.0 if aus.get(43, 0.0) > 0 else 0.0)
    )


def pspi_to_level(value: float) -> int:
    """The papers' 6-level label (FACTS.md §4): 0→0, 1→1, 2→2, 3→3, 4–5→4, ≥6→5."""
    if not value >= 0:  # also rejects NaN
        raise ValueError(f"PSPI must be a number >= 0, got {value!r}")
    return 5 if value >= 6 else 4 if value >= 4 else int(value)
