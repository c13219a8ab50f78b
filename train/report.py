"""Markdown tables in the layout of the papers' Tables 1–2 and plots of predicted vs ground-truth curves."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from tqdm import tqdm

from engine.files import write_atomically
from train.metrics import METRIC_NAMES, Evaluation, Metrics

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from train.evaluate import Predictions
    from train.multilabel import AUScores

HEADERS = ("MAE", "MSE", "PCC", "ICC", "wMAE", "wMSE")
OVERVIEW_SUBJECTS = 50
"""Most subjects drawn in overview.png (the papers have 25): a grid of thousands takes minutes and more
pixels than a PNG can hold. Every subject still gets its own plot."""

# Published per-subject means on the 6-level scale (FACTS.md §4): Wang et al. 2017 Tables 1–2 (papers 000
# and 001), Li et al. 2018 (paper 002). None: not published. No paper reports ICC.
REFERENCE: tuple[tuple[str, dict[str, float | None]], ...] = tuple(
    (name, dict(zip(METRIC_NAMES, values, strict=True)))
    for name, values in (
        ("smooth-L1", (0.416, 1.060, 0.524, None, 1.596, 4.396)),
        ("L1 + L1 center loss", (0.389, 0.820, 0.603, None, 1.388, 3.438)),
        ("smooth-L1 + L1 center loss", (0.456, 0.804, 0.651, None, 1.289, 2.880)),
        ("smooth-L1 + L2 center loss", (0.435, 0.816, 0.625, None, 1.324, 3.075)),
        ("L1 + softmax", (0.394, 1.039, 0.485, None, None, None)),
        ("L1 + L1 center loss + sampling", (None, None, None, None, 1.039, 1.999)),
        ("smooth-L1 + L1 center loss + sampling", (None, None, None, None, 0.991, 1.720)),
        ("saliency supervision (Li et al. 2018)", (0.334, 0.626, 0.804, None, 0.727, 1.566)),
        ("OSVR-L1 (CVPR16)", (1.025, None, 0.600, None, 1.309, 2.758)),
        ("OSVR-L2 (CVPR16)", (0.810, None, 0.601, None, 1.299, 2.719)),
        ("all zeros", (0.438, 1.353, None, None, 2.143, 7.387)),
    )
)


def _cell(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.3f}"


def _row(first: list[str], values: Mapping[str, float | None]) -> str:
    return "| " + " | ".join([*first, *(_cell(values[name]) for name in METRIC_NAMES)]) + " |"


def _header(first: list[str]) -> str:
    columns = [*first, *HEADERS]
    return "\n".join(("| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)))


def markdown_table(rows: Mapping[str, Evaluation | Metrics], reference: bool = True) -> str:
    """The papers' table (method | MAE | MSE | PCC | ICC | wMAE | wMSE), one row per named result.

    An Evaluation contributes its per-subject mean, as the papers report; with `reference`, the published
    rows follow, marked "paper:", for comparison.
    """
    lines = [_header(["method"])]
    for name, result in rows.items():
        metrics = result.per_subject_mean if isinstance(result, Evaluation) else result
        lines.append(_row([name], metrics.as_dict()))
    if reference:
        lines += [_row([f"paper: {name}"], values) for name, values in REFERENCE]
    return "\n".join(lines)


def summary_table(evaluation: Evaluation, reference: bool = True) -> str:
    """The papers' table with this evaluation's per-subject mean and pooled rows."""
    ours = {"ours (per-subject mean)": evaluation.per_subject_mean, "ours (pooled)": evaluation.pooled}
    return markdown_table(ours, reference)


def subject_table(predictions: Predictions, evaluation: Evaluation) -> str:
    """One row per subject: its frame count, the pain levels present, and its metrics."""
    lines = [_header(["subject", "frames", "levels"])]
    for subject, metrics in evaluation.per_subject.items():
        labels = predictions.label[predictions.subject == subject]
        levels = " ".join(str(int(level)) for level in np.unique(labels))
        lines.append(_row([subject, str(len(labels)), levels], metrics.as_dict()))
    return "\n".join(lines)


def subject_png_name(subject: str) -> str:
    """File name of a subject's curve plot: the name with characters unsafe in file names replaced by _ and
    cut at 100 characters; then, if it had to change, a hash of the name, so that subjects whose names
    differ only there ("a/b", "a_b") never share a plot."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", subject)[:100]
    if safe != subject:
        safe += "-" + hashlib.sha256(subject.encode()).hexdigest()[:8]
    return f"subject_{safe}.png"


def _draw_curves(axes: Axes, predictions: Predictions, subject: str, sequence_names: bool) -> None:
    rows = predictions.subject_rows(subject)
    x = np.arange(len(rows))
    sequences = predictions.sequence[rows]
    starts = np.flatnonzero(np.r_[True, sequences[1:] != sequences[:-1]])
    ends = np.r_[starts[1:], len(rows)]
    for start in starts[1:]:
        axes.axvline(start - 0.5, color="0.6", linewidth=0.8, linestyle="--")
    for first, (start, end) in enumerate(zip(starts, ends, strict=True)):
        span = slice(start, end)  # one sequence: curves are not joined across sequences
        axes.step(x[span], predictions.label[rows][span], where="mid", color="black", linewidth=1.4,
                  zorder=3, label=None if first else "ground truth")
        axes.plot(x[span], predictions.prediction[rows][span], color="tab:red", linewidth=0.9, alpha=0.8,
                  label=None if first else "prediction")
    axes.set_xlim(-0.5, len(rows) - 0.5)
    axes.set_ylim(-0.3, 5.3)
    axes.set_yticks(range(6))
    if sequence_names:
        axes.set_xticks((starts + ends - 1) / 2, sequences[starts], rotation=90, fontsize=7)
        axes.set_xlabel("frames, by sequence (dashed lines: sequence boundaries)")
    else:
        axes.set_xticks([])


def plot_subject(path: Path, predictions: Predictions, subject: str, metrics: Metrics) -> None:
    """PNG of one subject's predicted and ground-truth curves, sequences in order (the papers' Fig. 1)."""
    figure = Figure(figsize=(12, 4), layout="constrained")
    axes = figure.subplots()
    _draw_curves(axes, predictions, subject, sequence_names=True)
    axes.set_ylabel("pain level")
    axes.set_title(
        f"{subject}: MAE {_cell(metrics.mae)}, PCC {_cell(metrics.pcc)}, wMAE {_cell(metrics.wmae)}"
    )
    axes.legend(loc="upper right", fontsize=8)
    figure.savefig(path, dpi=100)


def plot_overview(path: Path, predictions: Predictions, evaluation: Evaluation) -> None:
    """PNG with the curves of every subject (the first OVERVIEW_SUBJECTS) in a grid."""
    subjects = list(evaluation.per_subject)[:OVERVIEW_SUBJECTS]
    columns = min(5, len(subjects))
    grid_rows = math.ceil(len(subjects) / columns)
    figure = Figure(figsize=(3.2 * columns, 1.9 * grid_rows), layout="constrained")
    for axes, subject in zip(figure.subplots(grid_rows, columns, squeeze=False).flat, subjects, strict=False):
        _draw_curves(axes, predictions, subject, sequence_names=False)
        axes.set_title(f"{subject}  MAE {_cell(evaluation.per_subject[subject].mae)}", fontsize=8)
        axes.tick_params(labelsize=7)
    for axes in figure.axes[len(subjects):]:
        axes.set_visible(False)
    figure.savefig(path, dpi=80)


def au_table(scores: AUScores, thresholds: np.ndarray | None = None) -> str:
    """One row per AU (frames present, threshold, accuracy, F1, their mean), then the average over AUs."""
    lines = ["| AU | present | threshold | accuracy | F1 | mean |", "|---|---|---|---|---|---|"]
    for k, au in enumerate(scores.au_numbers):
        threshold = _cell(None if thresholds is None else thresholds[k])
        lines.append(f"| AU{au} | {scores.positives[k]} of {scores.known[k]} | {threshold} | "
                     f"{_cell(scores.accuracy[k])} | {_cell(scores.f1[k])} | {_cell(scores.mean[k])} |")
    average = scores.average()
    lines.append(f"| average over AUs | | | {_cell(average['accuracy'])} | {_cell(average['f1'])} | "
                 f"{_cell(average['mean'])} |")
    return "\n".join(lines)


def plot_au_scores(path: Path, scores: AUScores) -> None:
    """Bar chart PNG of the accuracy and F1 of each AU on held-out frames ("n/a" where F1 is undefined)."""
    figure = Figure(figsize=(1.0 + 0.6 * len(scores.au_numbers), 3.4), layout="constrained")
    axes = figure.subplots()
    x = np.arange(len(scores.au_numbers))
    axes.bar(x - 0.2, scores.accuracy, width=0.4, color="0.7", label="accuracy")
    axes.bar(x + 0.2, scores.f1, width=0.4, color="tab:red", label="F1")
    for k in np.flatnonzero(np.isnan(scores.f1)):
        axes.text(x[k] + 0.2, 0.02, "n/a", ha="center", va="bottom", rotation=90, fontsize=7, color="tab:red")
    axes.set_xticks(x, [f"AU{a}" for a in scores.au_numbers])
    axes.set_ylim(0, 1.0)
    axes.set_ylabel("held-out frames")
    axes.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=2, frameon=False, fontsize=8)
    figure.savefig(path, dpi=100)


def write_report(folder: str | Path, predictions: Predictions, evaluation: Evaluation, source: str, *,
                 aus: AUScores | None = None, thresholds: np.ndarray | None = None) -> Path:
    """Write report.md, overview.png and one subject_<id>.png per subject into `folder`; return report.md.

    With `aus` (an AU model's held-out AU metrics) and the mean `thresholds` per AU, the report adds an AU
    table and au_scores.png.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    subjects = list(evaluation.per_subject)
    defined_pcc = sum(not math.isnan(m.pcc) for m in evaluation.per_subject.values())
    plot_overview(folder / "overview.png", predictions, evaluation)
    # a progress bar on terminals (thousands of subjects take minutes), none when piped
    for subject, metrics in tqdm(evaluation.per_subject.items(), desc="plots", unit="subject", disable=None):
        plot_subject(folder / subject_png_name(subject), predictions, subject, metrics)
    text = [
        f"# Evaluation of {source}",
        "",
        f"{len(subjects)} subjects, {evaluation.frames} frames, pain levels 0–5.",
        "",
        "## Summary (layout of the papers' Tables 1–2)",
        "",
        summary_table(evaluation),
        "",
        "Per-subject mean: each metric computed per subject, then averaged over subjects, as the papers do. "
        f"PCC is averaged over the {defined_pcc} of {len(subjects)} subjects where it is defined (it is not "
        "for constant labels or predictions); an undefined ICC counts as 0. wMAE and wMSE average the MAE "
        "and MSE of each pain level present in the subject. Pooled: all frames as one subject. "
        "Rows marked \"paper:\" are the published per-subject means; no paper reports ICC.",
        "",
        "## Per subject",
        "",
        subject_table(predictions, evaluation),
        "",
    ]
    if aus is not None:
        plot_au_scores(folder / "au_scores.png", aus)
        text += [
            "## Action units (paper 003 §4.3)",
            "",
            au_table(aus, thresholds),
            "",
            "Each fold's model calls an AU present when its probability reaches that fold's threshold "
            "(searched on held-out training subjects; the table shows the mean over folds). Accuracy and "
            "F1 over all held-out frames; mean = (accuracy + F1) / 2, the paper's figure. F1 is undefined "
            "(—) for an AU neither present nor called; the average skips it.",
            "",
            "![accuracy and F1 per AU](au_scores.png)",
            "",
        ]
    shown = "all subjects" if len(subjects) <= OVERVIEW_SUBJECTS else (
        f"the first {OVERVIEW_SUBJECTS} of {len(subjects)} subjects; each has its own plot below")
    text += [
        "## Predicted and ground-truth curves",
        "",
        f"![{shown}](overview.png)",
        "",
    ]
    for subject in subjects:
        text += [f"### {subject}", "", f"![{subject}]({subject_png_name(subject)})", ""]
    report = folder / "report.md"
    write_atomically(report, "\n".join(text))
    return report
