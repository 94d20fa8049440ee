"""What a tree level works on: its samples grouped by node, each node's statistics, and the
best split found for each node.

A level's samples sit in `order`: one row per sorted feature (samples sorted by that feature
within each node's *segment*), or a single row listing each node's samples in no particular
order when splits are found by counting (`workers/ml/bins.py`). A node's samples occupy the
same columns in every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

Criterion = Literal["gini", "entropy", "squared_error"]
Matrix = NDArray[np.float64]
Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]


def xlogx(x: Matrix) -> Matrix:
    safe = np.where(x > 0, x, 1.0)
    result: Matrix = x * np.log(safe)
    return result


@dataclass
class LevelData:
    """The samples still being split at one level of a batch of trees."""

    xt: Matrix  # (features, rows of the training matrix)
    sample_rows: Ints  # each sample's row in the training matrix
    w: Matrix  # each sample's weight
    y: NDArray[Any]  # each sample's class index, or target value
    n_classes: int  # 0 for regression
    order: Ints  # (sorted features, or 1, active samples)
    starts: Ints  # segment boundaries in `order`'s columns
    unit_weights: bool = False  # every weight is 1: sums of weights are counts

    @property
    def rows(self) -> int:
        return int(self.order.shape[1])

    @property
    def segments(self) -> int:
        return len(self.starts) - 1

    @property
    def lengths(self) -> Ints:
        return np.diff(self.starts)

    @cached_property
    def segment_of_row(self) -> Ints:
        return np.repeat(np.arange(self.segments), self.lengths)

    def values_at(self, positions: Ints) -> Matrix:
        """(features, len(positions)): each feature's value at those positions of its list."""
        features = np.arange(len(self.xt))[:, None]
        values: Matrix = self.xt[features, self.sample_rows[self.order[:, positions]]]
        return values

    def keep(self, segments: Bools) -> LevelData:
        lengths = self.lengths[segments]
        # compress, not order[:, mask]: that returns a Fortran-ordered array, whose rows
        # every later step would read with a stride.
        order = np.compress(segments[self.segment_of_row], self.order, axis=1)
        return self.with_order(order, np.concatenate([[0], np.cumsum(lengths)]))

    def with_order(self, order: Ints, starts: Ints) -> LevelData:
        return LevelData(self.xt, self.sample_rows, self.w, self.y, self.n_classes, order,
                         starts.astype(np.int64), self.unit_weights)


@dataclass
class Cells:
    """The samples of some candidate columns, cell by cell: each one's class or target, its
    weight (None when every weight is 1) and, for regression, its node."""

    y: NDArray[Any]
    w: Matrix | None
    segment: Ints | None

    @classmethod
    def gathered(cls, level: LevelData, samples: Ints, segment: Ints) -> Cells:
        w = None if level.unit_weights else level.w[samples]
        return cls(level.y[samples], w, None if level.n_classes else segment)

    @classmethod
    def tiled(cls, level: LevelData, copies: int) -> Cells:
        """Every node's samples, `copies` times (once per feature), in the same order."""
        members = level.order[0]
        w = None if level.unit_weights else np.tile(level.w[members], copies)
        segment = None if level.n_classes else np.tile(level.segment_of_row, copies)
        return cls(np.tile(level.y[members], copies), w, segment)

    def centred(self, mean: Matrix) -> Matrix:
        """Each cell's weighted target minus its node's mean (regression)."""
        assert self.segment is not None
        y: Matrix = self.y - mean[self.segment]
        return y if self.w is None else self.w * y


@dataclass
class NodeStats:
    weight: Matrix
    value: Matrix  # (nodes, outputs)
    impure: Bools
    parent_score: Matrix
    totals: Matrix  # class weights (nodes, classes), or the centred target sum (nodes, 1)
    mean: Matrix  # regression: the node's mean target (empty for classifiers)

    def keep(self, nodes: Bools) -> NodeStats:
        mean = self.mean[nodes] if len(self.mean) else self.mean
        return NodeStats(self.weight[nodes], self.value[nodes], self.impure[nodes],
                         self.parent_score[nodes], self.totals[nodes], mean)


def node_stats(level: LevelData, criterion: Criterion) -> NodeStats:
    seg, s = level.segment_of_row, level.order[0]
    w, n = level.w[s], level.segments
    if level.n_classes:
        c = level.n_classes
        counts = np.bincount(seg * c + level.y[s], weights=w, minlength=n * c).reshape(
            n, c).astype(np.float64, copy=False)
        weight = counts.sum(axis=1)
        return NodeStats(weight, counts / weight[:, None], (counts > 0).sum(axis=1) > 1,
                         class_score(counts, weight, criterion), counts, np.zeros(0))
    y = level.y[s].astype(np.float64)
    weight = np.bincount(seg, weights=w, minlength=n).astype(np.float64, copy=False)
    mean = np.bincount(seg, weights=w * y, minlength=n) / weight
    starts = level.starts[:-1]
    impure = np.minimum.reduceat(y, starts) < np.maximum.reduceat(y, starts)
    centred = np.bincount(seg, weights=w * (y - mean[seg]), minlength=n).astype(np.float64)
    return NodeStats(weight, mean[:, None], impure, centred**2 / weight, centred[:, None], mean)


def class_score(counts: Matrix, weight: Matrix, criterion: Criterion) -> Matrix:
    """The split score's share of a side with these class weights (see splits.py)."""
    safe = np.where(weight > 0, weight, 1.0)
    if criterion == "entropy":
        result: Matrix = xlogx(counts).sum(axis=-1) - xlogx(safe)
        return result
    gini: Matrix = (counts * counts).sum(axis=-1) / safe
    return gini


@dataclass
class BestSplits:
    """Per node: whether a split exists, its feature, threshold and score."""

    valid: Bools
    feature: Ints
    threshold: Matrix
    score: Matrix

    @classmethod
    def none(cls, n: int) -> BestSplits:
        return cls(np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64), np.zeros(n),
                   np.full(n, -np.inf))

    def keep(self, nodes: Bools) -> BestSplits:
        return BestSplits(self.valid[nodes], self.feature[nodes], self.threshold[nodes],
                          self.score[nodes])

    def offer(self, nodes: Ints, feature: Ints, threshold: Matrix, score: Matrix) -> None:
        """Take these candidates where they beat what the nodes have (ties keep the first)."""
        better = score > self.score[nodes]
        nodes = nodes[better]
        self.feature[nodes] = feature[better]
        self.threshold[nodes] = threshold[better]
        self.score[nodes] = score[better]
        self.valid[nodes] = True


def between(low: Matrix, high: Matrix) -> Matrix:
    """A threshold with low <= t < high: the midpoint, or `low` when the midpoint rounds up to
    `high` (adjacent floats). Halves first, so values near the largest float do not overflow."""
    middle = low / 2 + high / 2
    result: Matrix = np.where((middle >= low) & (middle < high), middle, low)
    return result


def first_max(score: Matrix, group: Ints, group_first: Ints) -> tuple[Matrix, Ints]:
    """Per group of consecutive entries: the highest score, and the index of its first
    occurrence (-1 where every score is -inf)."""
    top: Matrix = np.maximum.reduceat(score, group_first)
    hits = np.flatnonzero((score == top[group]) & (score > -np.inf))
    first = np.ones(len(hits), dtype=bool)
    first[1:] = group[hits[1:]] != group[hits[:-1]]
    winner = np.full(len(top), -1, dtype=np.int64)
    winner[group[hits[first]]] = hits[first]
    return top, winner
