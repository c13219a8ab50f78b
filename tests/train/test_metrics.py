"""The papers' metrics (FACTS.md §4) against values derived by hand on small cases."""

import math

import numpy as np
import pytest

from train.metrics import Evaluation, Metrics, evaluate
from train.report import markdown_table

# Subject A: levels 0, 1, 3 present (2, 4, 5 missing).
A_LABELS = [0, 0, 1, 3]
A_PREDICTIONS = [0.5, 0.0, 2.0, 2.0]
# errors 0.5, 0, 1, -1. Centred labels -1, -1, 0, 2 (sum of squares 6); predictions mean 1.125,
# centred -0.625, -1.125, 0.875, 0.875 (sum of squares 3.1875); cross products 0.625 + 1.125 + 0 + 1.75 = 3.5.
A_EXPECTED = Metrics(
    mae=2.5 / 4,
    mse=2.25 / 4,
    pcc=3.5 / math.sqrt(6 * 3.1875),
    icc=2 * 3.5 / (6 + 3.1875),
    wmae=(0.25 + 1 + 1) / 3,  # level 0: (0.5 + 0) / 2, level 1: 1, level 3: 1 — over the 3 present levels
    wmse=(0.125 + 1 + 1) / 3,  # level 0: (0.25 + 0) / 2
)
# Subject B: constant labels, varying predictions: PCC undefined, ICC = 2·0 / (0 + var p) = 0.
B_LABELS = [0, 0, 0]
B_PREDICTIONS = [0.0, 0.3, 0.6]
# Subject C: labels and predictions both constant: PCC and ICC undefined (0/0).
C_LABELS = [2, 2]
C_PREDICTIONS = [2.0, 2.0]


def assert_metrics(actual: Metrics, expected: Metrics) -> None:
    for name, value in expected.as_dict().items():
        got = getattr(actual, name)
        if math.isnan(value):
            assert math.isnan(got), name
        else:
            assert got == pytest.approx(value, abs=1e-12), name


def three_subjects() -> Evaluation:
    subjects = ["A"] * 4 + ["B"] * 3 + ["C"] * 2
    return evaluate(subjects, np.array(A_LABELS + B_LABELS + C_LABELS),
                    np.array(A_PREDICTIONS + B_PREDICTIONS + C_PREDICTIONS))


def test_single_subject_matches_hand_computed_values():
    result = evaluate(["A"] * 4, np.array(A_LABELS), np.array(A_PREDICTIONS))
    assert list(result.per_subject) == ["A"]
    assert_metrics(result.per_subject["A"], A_EXPECTED)
    assert_metrics(result.per_subject_mean, A_EXPECTED)
    assert_metrics(result.pooled, A_EXPECTED)
    assert result.frames == 4


def test_constant_label_subjects():
    result = three_subjects()
    assert_metrics(result.per_subject["B"], Metrics(mae=0.3, mse=(0 + 0.09 + 0.36) / 3, pcc=math.nan, icc=0.0,
                                                    wmae=0.3, wmse=0.15))
    assert_metrics(result.per_subject["C"], Metrics(mae=0, mse=0, pcc=math.nan, icc=math.nan, wmae=0, wmse=0))


def test_per_subject_mean_skips_nan_pcc_and_counts_nan_icc_as_zero():
    mean = three_subjects().per_subject_mean
    assert_metrics(mean, Metrics(
        mae=(A_EXPECTED.mae + 0.3 + 0) / 3,
        mse=(A_EXPECTED.mse + 0.15 + 0) / 3,
        pcc=A_EXPECTED.pcc,  # B and C are skipped: the mean is over A alone
        icc=(A_EXPECTED.icc + 0 + 0) / 3,  # C's NaN counts as 0, still divided by 3 subjects
        wmae=(A_EXPECTED.wmae + 0.3 + 0) / 3,
        wmse=(A_EXPECTED.wmse + 0.15 + 0) / 3,
    ))


def test_pooled_values_treat_all_frames_as_one_subject():
    pooled = three_subjects().pooled
    # errors 0.5, 0, 1, -1 | 0, 0.3, 0.6 | 0, 0 over 9 frames
    # level 0 (5 frames): |e| 0.5, 0, 0, 0.3, 0.6; level 1: 1; level 2: 0, 0; level 3: 1
    labels = np.array(A_LABELS + B_LABELS + C_LABELS, dtype=float)
    predictions = np.array(A_PREDICTIONS + B_PREDICTIONS + C_PREDICTIONS)
    covariance = np.cov(labels, predictions)  # independent reference for the pooled correlation
    assert_metrics(pooled, Metrics(
        mae=3.4 / 9,
        mse=2.7 / 9,
        pcc=np.corrcoef(labels, predictions)[0, 1],
        icc=2 * covariance[0, 1] / (covariance[0, 0] + covariance[1, 1]),
        wmae=(1.4 / 5 + 1 + 0 + 1) / 4,
        wmse=(0.7 / 5 + 1 + 0 + 1) / 4,
    ))
    # Frame weighting differs from subject weighting: A's 4 frames weigh more when pooled.
    assert pooled.mae != pytest.approx(three_subjects().per_subject_mean.mae)


def test_wmae_averages_over_the_levels_present_only():
    # Levels 0 and 4 present: wMAE = (MAE of level 0 + MAE of level 4) / 2, not / 6.
    result = evaluate(["S"] * 4, np.array([0, 0, 0, 4]), np.array([0.0, 0.0, 1.0, 2.0]))
    metrics = result.per_subject["S"]
    assert metrics.mae == pytest.approx(3 / 4)
    assert metrics.wmae == pytest.approx((1 / 3 + 2) / 2)
    assert metrics.wmse == pytest.approx((1 / 3 + 4) / 2)


def test_frame_order_and_interleaved_subjects_do_not_matter():
    subjects = np.array(["A"] * 4 + ["B"] * 3 + ["C"] * 2)
    labels = np.array(A_LABELS + B_LABELS + C_LABELS)
    predictions = np.array(A_PREDICTIONS + B_PREDICTIONS + C_PREDICTIONS)
    order = np.random.default_rng(0).permutation(len(labels))
    shuffled = evaluate(list(subjects[order]), labels[order], predictions[order])
    reference = three_subjects()
    assert list(shuffled.per_subject) == ["A", "B", "C"]
    for subject, metrics in reference.per_subject.items():
        assert_metrics(shuffled.per_subject[subject], metrics)
    assert_metrics(shuffled.per_subject_mean, reference.per_subject_mean)


def test_all_subjects_without_pcc_give_nan_mean():
    labels, predictions = np.array(B_LABELS + C_LABELS), np.array(B_PREDICTIONS + C_PREDICTIONS)
    result = evaluate(["B"] * 3 + ["C"] * 2, labels, predictions)
    assert math.isnan(result.per_subject_mean.pcc)
    assert result.per_subject_mean.icc == 0.0


def test_constant_predictions_with_rounding_mean_have_no_correlation():
    # The mean of three 0.1s is not exactly 0.1 in floating point; the predictions are still constant.
    result = evaluate(["S"] * 3, np.array([0, 1, 2]), np.array([0.1, 0.1, 0.1]))
    assert math.isnan(result.per_subject["S"].pcc)
    assert result.per_subject["S"].icc == 0.0


def test_as_dict_has_the_six_metrics_in_the_papers_order():
    assert list(A_EXPECTED.as_dict()) == ["mae", "mse", "pcc", "icc", "wmae", "wmse"]


@pytest.mark.parametrize(("subjects", "labels", "predictions", "message"), [
    (["A", "A"], [0, 1], [0.0], "lengths differ"),
    ([], [], [], "no frames"),
    (["A", "A"], [0, 1], [0.0, np.nan], "finite"),
])
def test_invalid_arrays_are_rejected(subjects, labels, predictions, message):
    with pytest.raises(ValueError, match=message):
        evaluate(subjects, np.array(labels, dtype=float), np.array(predictions, dtype=float))


def test_markdown_table_in_the_papers_layout():
    result = three_subjects()
    table = markdown_table({"ours": result, "pooled": result.pooled}, reference=False).splitlines()
    assert table[0] == "| method | MAE | MSE | PCC | ICC | wMAE | wMSE |"
    assert table[1] == "|---|---|---|---|---|---|---|"
    # an Evaluation contributes its per-subject mean: MAE (0.625 + 0.3 + 0) / 3 = 0.308, PCC 0.800 (A only)
    assert table[2] == "| ours | 0.308 | 0.238 | 0.800 | 0.254 | 0.350 | 0.286 |"
    assert table[3].startswith("| pooled | 0.378 | 0.300 |")
    assert len(table) == 4


def test_markdown_table_with_published_rows_and_undefined_values():
    only_constant = evaluate(["B"] * 3, np.array(B_LABELS), np.array(B_PREDICTIONS))
    table = markdown_table({"constant": only_constant})
    lines = table.splitlines()
    assert lines[2] == "| constant | 0.300 | 0.150 | — | 0.000 | 0.300 | 0.150 |"
    # FACTS.md §4: the published smooth-L1 + L1 center + sampling row and the all-zeros baseline
    assert "| paper: smooth-L1 + L1 center loss + sampling | — | — | — | — | 0.991 | 1.720 |" in lines
    assert "| paper: all zeros | 0.438 | 1.353 | — | — | 2.143 | 7.387 |" in lines
    saliency = "| paper: saliency supervision (Li et al. 2018) | 0.334 | 0.626 | 0.804 | — | 0.727 | 1.566 |"
    assert saliency in lines
