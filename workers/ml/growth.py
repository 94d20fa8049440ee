"""Growing CART trees breadth first: one level of every tree in a batch at a time.

Per-node Python work is what makes a naive NumPy tree slow (a forest has tens of thousands of
nodes). Here a level costs a fixed number of array operations, whatever its node count:

- `order[f]` lists the batch's samples sorted by feature `f` within each node's *segment*
  (a node's samples occupy the same row range in every feature's list);
- a level evaluates every candidate threshold of every segment at once (`workers/ml/splits.py`);
- the chosen splits then partition each segment stably, left child first, so the lists stay
  sorted without sorting again.

Splits are exact (every distinct value is a candidate), as in scikit-learn. Thresholds lie
strictly between two observed values, or on the lower one when the midpoint rounds up to the
upper (adjacent floats) or overflows: each split sends at least one sample each way, so every
fit ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from workers.ml.bins import Binning, binned_splits
from workers.ml.levels import BestSplits, Criterion, LevelData, node_stats
from workers.ml.splits import sorted_splits
from workers.ml.ticker import Ticker

Matrix = NDArray[np.float64]
Ints = NDArray[np.int64]

# Cells of the per-level working arrays handled at once: bounds memory whatever the data size.
BLOCK_CELLS = 1 << 21
# Node values (nodes x outputs) a model may hold, all its trees together: about 270 MB.
MAX_NODE_VALUES = 1 << 25


class ModelTooLarge(ValueError):
    """The trees would outgrow MAX_NODE_VALUES: the data asks for a depth or leaf limit."""


@dataclass(frozen=True)
class GrowthRules:
    criterion: Criterion
    max_depth: int | None = None
    min_samples_split: int = 2
    min_samples_leaf: int = 1
    max_features: int | None = None  # features tried per node; None: all of them


@dataclass
class GrownTree:
    """A fitted tree as plain arrays: node `i` is a leaf when `feature[i] < 0`."""

    feature: NDArray[np.int32]
    threshold: Matrix
    left: NDArray[np.int32]
    right: NDArray[np.int32]
    value: Matrix  # (nodes, outputs): class shares, or the mean target
    gains: Matrix  # impurity decrease credited to each feature (not normalized)


@dataclass
class _Nodes:
    """Every node of the batch, across levels, in creation order."""

    tree: list[Ints]
    value: list[Matrix]
    feature: list[Ints]
    threshold: list[Matrix]
    left: list[Ints]
    count: int = 0


class BatchGrower:
    """Grows several trees on one training matrix, each with its own sample weights."""

    def __init__(self, x: Matrix, y: NDArray[np.generic], n_classes: int, rules: GrowthRules,
                 rng: np.random.Generator) -> None:
        self.xt = np.ascontiguousarray(x.T, dtype=np.float64)  # one feature per row
        self.y, self.n_classes, self.rules, self.rng = y, n_classes, rules, rng
        # Each feature's sort order over all rows, shared by every tree of every batch.
        self.sorted_rows = np.argsort(self.xt, axis=1, kind="stable")
        self.binning = Binning.of(self.xt, self.sorted_rows)

    def grow(self, weights: Matrix, tick: Ticker, budget: int = MAX_NODE_VALUES
             ) -> list[GrownTree]:
        """One tree per row of `weights` (a sample's weight: 0 leaves it out), with at most
        `budget` node values in all (ModelTooLarge past it)."""
        level = self._roots(weights)
        nodes = _Nodes([np.arange(len(weights))], [], [], [], [], len(weights))
        ids = np.arange(len(weights))
        gains = np.zeros((len(weights), self.xt.shape[0]))
        total = float(weights.sum())
        depth = 0
        outputs = max(self.n_classes, 1)
        while len(ids):
            tick.report(1.0 - float(level.w[level.order[0]].sum()) / total)
            if nodes.count * outputs > budget:
                raise ModelTooLarge(
                    f"the trees would hold more than {budget // outputs} nodes; limit "
                    "max_depth, raise min_samples_leaf or use fewer trees")
            ids, level = self._level(level, ids, depth, nodes, gains, tick)
            depth += 1
        return _split_trees(nodes, gains, len(weights))

    def _roots(self, weights: Matrix) -> LevelData:
        kept = weights > 0
        rows = np.nonzero(kept)[1]
        per_tree = kept.sum(axis=1)
        if self.binning is not None:  # counting needs each node's samples, in any order
            order = np.arange(len(rows))[None, :]
        else:
            sample_of = (np.cumsum(kept.ravel()) - 1).reshape(kept.shape)
            order = np.empty((self.xt.shape[0], len(rows)), dtype=np.int64)
            for f, by_value in enumerate(self.sorted_rows):
                # take (not [:, by_value]) keeps each tree's row contiguous
                order[f] = np.take(sample_of, by_value, axis=1)[np.take(kept, by_value, axis=1)]
        starts = np.concatenate([[0], np.cumsum(per_tree)]).astype(np.int64)
        w = weights[kept].astype(np.float64)
        return LevelData(self.xt, rows, w, self.y[rows], self.n_classes, order, starts,
                         bool((w == 1.0).all()))

    def _level(self, level: LevelData, ids: Ints, depth: int, nodes: _Nodes, gains: Matrix,
               tick: Ticker) -> tuple[Ints, LevelData]:
        stats = node_stats(level, self.rules.criterion)
        _record_values(nodes, stats.value)
        rules = self.rules
        splittable = stats.impure & (stats.weight >= max(rules.min_samples_split,
                                                         2 * rules.min_samples_leaf))
        if rules.max_depth is not None and depth >= rules.max_depth:
            splittable[:] = False
        if not splittable.all():
            level, stats, ids = level.keep(splittable), stats.keep(splittable), ids[splittable]
        if not len(ids):
            return ids, level
        if self.binning is not None:
            found = binned_splits(level, stats, self.binning, rules.max_features, rules,
                                  self.rng, BLOCK_CELLS, tick)
        else:
            found = sorted_splits(level, stats, self._features(level), rules, BLOCK_CELLS,
                                  tick)
        if not found.valid.all():
            level, stats, ids = (level.keep(found.valid), stats.keep(found.valid),
                                 ids[found.valid])
            found = found.keep(found.valid)
        if not len(ids):
            return ids, level
        tree_of = nodes.tree[-1][ids - (nodes.count - len(nodes.tree[-1]))]
        np.add.at(gains, (tree_of, found.feature), found.score - stats.parent_score)
        children = _record_split(nodes, ids, tree_of, found)
        return children, _partition(level, found, BLOCK_CELLS, tick)

    def _features(self, level: LevelData) -> Ints | None:
        """The features each node tries ((nodes, k) indices), or None for all of them.

        Like scikit-learn, a node draws its k features among those not constant within it."""
        d = self.xt.shape[0]
        k = self.rules.max_features
        if k is None or k >= d:
            return None
        first = level.values_at(level.starts[:-1])  # (d, nodes): smallest value per feature
        last = level.values_at(level.starts[1:] - 1)
        keys = self.rng.random((level.segments, d)) + (first >= last).T
        return np.argpartition(keys, k - 1, axis=1)[:, :k].astype(np.int64)


def _record_values(nodes: _Nodes, value: Matrix) -> None:
    n = len(value)
    nodes.value.append(value)
    nodes.feature.append(np.full(n, -1, dtype=np.int64))
    nodes.threshold.append(np.zeros(n))
    nodes.left.append(np.full(n, -1, dtype=np.int64))


def _record_split(nodes: _Nodes, ids: Ints, tree_of: Ints, found: BestSplits) -> Ints:
    """Mark `ids` as split; return the ids of their children (left, right, left, ...)."""
    first = nodes.count - len(nodes.feature[-1])
    local = ids - first
    children = nodes.count + 2 * np.arange(len(ids))
    nodes.feature[-1][local] = found.feature
    nodes.threshold[-1][local] = found.threshold
    nodes.left[-1][local] = children
    nodes.tree.append(np.repeat(tree_of, 2))
    nodes.count += 2 * len(ids)
    return np.column_stack([children, children + 1]).ravel()


def _partition(level: LevelData, found: BestSplits, block: int, tick: Ticker) -> LevelData:
    """Split every segment stably (left child first) in every row of `order`."""
    m, seg = level.rows, level.segment_of_row
    members = level.order[0]
    n_rows = level.xt.shape[1]
    value = level.xt.ravel()[found.feature[seg] * n_rows + level.sample_rows[members]]
    goes_left = np.zeros(len(level.sample_rows), dtype=bool)
    goes_left[members] = value <= found.threshold[seg]
    starts = level.starts[:-1]
    n_left = np.bincount(seg, weights=goes_left[members], minlength=level.segments
                         ).astype(np.int64)
    before = np.cumsum(n_left) - n_left  # left samples in earlier segments, in every row
    # With `seen` the left samples up to a cell of a row, a left sample moves to a + seen and
    # a right one to b - seen (32-bit: the positions fit, and move half the bytes).
    a = (starts - before - 1)[seg].astype(np.int32)
    b = ((n_left + before)[seg] + np.arange(m)).astype(np.int32)
    moved = np.empty(level.order.shape, dtype=np.int64)
    step = max(1, block // max(m, 1))
    for r0 in range(0, len(level.order), step):
        tick.within()
        part = level.order[r0:r0 + step]
        left = goes_left[part]
        seen = np.cumsum(left, axis=1, dtype=np.int32)
        target = b - seen
        np.add(a, seen, out=target, where=left)
        for offset, (row, to) in enumerate(zip(part, target, strict=True)):
            moved[r0 + offset][to] = row
    bounds = np.sort(np.concatenate([level.starts, starts + n_left]))
    return level.with_order(moved, bounds)


def _split_trees(nodes: _Nodes, gains: Matrix, n_trees: int) -> list[GrownTree]:
    tree = np.concatenate(nodes.tree)
    feature = np.concatenate(nodes.feature)
    left = np.concatenate(nodes.left)
    value = np.concatenate(nodes.value)
    threshold = np.concatenate(nodes.threshold)
    order = np.argsort(tree, kind="stable")
    local = np.empty(len(tree), dtype=np.int64)
    counts = np.bincount(tree, minlength=n_trees)
    local[order] = np.arange(len(tree)) - np.repeat(np.cumsum(counts) - counts, counts)
    inner = feature >= 0
    left_local = np.where(inner, local[np.where(inner, left, 0)], -1)
    right_local = np.where(inner, local[np.where(inner, left + 1, 0)], -1)
    trees = []
    for t, start in enumerate(np.cumsum(counts) - counts):
        pick = order[start:start + counts[t]]
        trees.append(GrownTree(feature[pick].astype(np.int32), threshold[pick],
                               left_local[pick].astype(np.int32),
                               right_local[pick].astype(np.int32), value[pick], gains[t]))
    return trees
