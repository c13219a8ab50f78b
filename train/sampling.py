"""Training-set sampling of paper 001 §3.3: redundant-frame elimination and uniform class sampling.

Both samplers yield an endless stream of indices into the training set; a batch is the next `batch_size`
of them. The stream is a pure function of the seed, so a resumed run skips the indices it already used.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from itertools import islice

import numpy as np


def eliminate_redundant(sequences: Sequence[str] | np.ndarray, levels: Sequence[int] | np.ndarray,
                        max_run: int = 5) -> np.ndarray:
    """Indices kept after redundant-frame elimination (the paper's rule, FACTS.md §4).

    Frames are given in temporal order, grouped by sequence. Where a label stays the same for more than
    `max_run` consecutive frames of one sequence, only the first frame of that run is kept; shorter runs are
    kept whole.
    """
    if len(sequences) != len(levels):
        raise ValueError("sequences and levels differ in length")
    keep: list[int] = []
    start = 0
    n = len(levels)
    for i in range(1, n + 1):
        if i == n or sequences[i] != sequences[start] or levels[i] != levels[start]:
            keep.extend([start] if i - start > max_run else range(start, i))
            start = i
    return np.asarray(keep, dtype=np.int64)


def shuffled_stream(n: int, seed: int) -> Iterator[int]:
    """Endless epochs over range(n), each in a fresh random order (Caffe's `shuffle: true`)."""
    if n == 0:
        raise ValueError("cannot sample from an empty training set")
    rng = np.random.default_rng(seed)
    while True:
        yield from rng.permutation(n).tolist()


def uniform_class_stream(levels: Sequence[int] | np.ndarray, seed: int) -> Iterator[int]:
    """Endless stream that cycles round-robin over the classes present, one index per class in turn.

    Within a class, indices are drawn without replacement and reshuffled when the class is exhausted, as the
    authors' Caffe data layer does (FACTS.md §4). Every class present is seen equally often.
    """
    levels = np.asarray(levels)
    if len(levels) == 0:
        raise ValueError("cannot sample from an empty training set")
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(levels == c) for c in np.unique(levels)]
    orders = [rng.permutation(m) for m in members]
    cursors = [0] * len(members)
    while True:
        for c, member in enumerate(members):
            if cursors[c] == len(member):
                orders[c] = rng.permutation(member)
                cursors[c] = 0
            yield int(orders[c][cursors[c]])
            cursors[c] += 1


def batches(stream: Iterator[int], batch_size: int, skip: int = 0) -> Iterator[np.ndarray]:
    """Group an index stream into batches, after skipping the first `skip` batches (for resuming)."""
    deque(islice(stream, skip * batch_size), maxlen=0)
    while True:
        yield np.fromiter(islice(stream, batch_size), dtype=np.int64, count=batch_size)
