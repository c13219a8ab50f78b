"""Redundant-frame elimination and uniform class sampling (paper 001 §3.3, FACTS.md §4)."""

from __future__ import annotations

from collections import Counter
from itertools import islice

import numpy as np
import pytest

from train.sampling import batches, eliminate_redundant, shuffled_stream, uniform_class_stream


def test_runs_longer_than_five_keep_only_their_first_frame() -> None:
    seq = ["a"] * 16
    levels = [0] * 7 + [1, 1, 2, 2, 2, 2, 2] + [0, 0]
    # run of seven 0s → first only; 1,1 kept; five 2s (not more than five) kept; 0,0 kept
    assert eliminate_redundant(seq, levels).tolist() == [0, 7, 8, 9, 10, 11, 12, 13, 14, 15]


def test_runs_do_not_cross_sequence_boundaries() -> None:
    seq = ["a"] * 4 + ["b"] * 4
    levels = [0] * 8  # eight equal labels, but two runs of four
    assert eliminate_redundant(seq, levels).tolist() == list(range(8))
    assert eliminate_redundant(seq, levels, max_run=3).tolist() == [0, 4]
    assert eliminate_redundant([], []).tolist() == []


def test_elimination_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="length"):
        eliminate_redundant(["a"], [0, 1])


def test_uniform_stream_cycles_over_present_classes_without_replacement() -> None:
    levels = np.array([0] * 90 + [1] * 7 + [3] * 3)
    stream = list(islice(uniform_class_stream(levels, seed=1), 300))
    classes = levels[stream]
    assert classes[:6].tolist() == [0, 1, 3, 0, 1, 3]  # round-robin over the classes present
    assert Counter(classes.tolist()) == {0: 100, 1: 100, 3: 100}
    ones = [i for i in stream if levels[i] == 1]
    for start in range(0, 98, 7):  # each pass over class 1 uses all 7 frames once
        assert sorted(ones[start:start + 7]) == list(range(90, 97))
    assert stream != list(islice(uniform_class_stream(levels, seed=2), 300))
    assert stream == list(islice(uniform_class_stream(levels, seed=1), 300))


def test_shuffled_stream_is_epochs_of_permutations() -> None:
    first = list(islice(shuffled_stream(10, seed=0), 30))
    for epoch in range(3):
        assert sorted(first[epoch * 10:(epoch + 1) * 10]) == list(range(10))
    with pytest.raises(ValueError, match="empty"):
        next(shuffled_stream(0, seed=0))
    with pytest.raises(ValueError, match="empty"):
        next(uniform_class_stream([], seed=0))


def test_batches_skip_resumes_the_same_stream() -> None:
    full = batches(uniform_class_stream([0, 0, 1, 2, 2, 2], seed=3), 4)
    expected = [next(full) for _ in range(5)]
    resumed = batches(uniform_class_stream([0, 0, 1, 2, 2, 2], seed=3), 4, skip=3)
    assert [b.tolist() for b in (next(resumed), next(resumed))] == [b.tolist() for b in expected[3:]]
    assert all(b.dtype == np.int64 and b.shape == (4,) for b in expected)
