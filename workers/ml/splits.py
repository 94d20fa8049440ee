"""The best split of every node of a level, from features kept sorted within each node.

For a group of candidate columns, equal values are folded into *runs*; the statistics of each
run (class weights, or weighted target sums) are accumulated along the runs of each
(column, node) group, so the score of every threshold comes out at once:

- gini: sum_c L_c^2 / W_L + sum_c R_c^2 / W_R (maximizing it minimizes weighted Gini);
- entropy: sum_c L_c log L_c - W_L log W_L + the same on the right;
- squared error: S_L^2 / W_L + S_R^2 / W_R with S the weighted sum of the target centred on
  the node's mean (centring keeps the cumulative sums exact enough on offset targets).

Each score minus the node's own is the weighted impurity decrease, the split's gain.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

import numpy as np

from workers.ml.levels import (
    BestSplits,
    Bools,
    Cells,
    Ints,
    LevelData,
    Matrix,
    NodeStats,
    between,
    first_max,
    xlogx,
)
from workers.ml.ticker import Ticker

if TYPE_CHECKING:
    from workers.ml.growth import GrowthRules


def sorted_splits(level: LevelData, stats: NodeStats, features: Ints | None,
                  rules: GrowthRules, block: int, tick: Ticker) -> BestSplits:
    """The best split of each node among its candidate features (all, or `features` rows)."""
    best = BestSplits.none(level.segments)
    k = len(level.xt) if features is None else features.shape[1]
    step = max(1, block // max(level.rows, 1))
    for j0 in range(0, k, step):
        tick.within()
        columns = np.arange(j0, min(k, j0 + step))
        _Columns(level, stats, features, columns, rules, block).offer_to(best)
    return best


class RunSums(Protocol):
    """Per-run sums of the runs' samples (before accumulating along the groups)."""

    def weights(self) -> Matrix: ...

    def classes(self, c0: int, c1: int) -> Matrix:
        """(runs, c1 - c0): the weight of each class c0 <= c < c1."""
        ...

    def targets(self, mean: Matrix) -> Matrix:
        """The weighted targets, each centred on its node's `mean`."""
        ...


class CellSums:
    """Run sums counted from the cells, each cell's run given."""

    def __init__(self, cells: Cells, run_of_cell: Ints, runs: int, n_classes: int,
                 lengths: Ints | None = None) -> None:
        self.cells, self.run_of_cell, self.runs = cells, run_of_cell, runs
        self.n_classes, self.lengths = n_classes, lengths  # lengths: cells per run, if known

    def _sum(self, weights: Matrix | None, index: Ints | None = None, width: int = 1) -> Matrix:
        key = self.run_of_cell if index is None else self.run_of_cell * width + index
        counts = np.bincount(key, weights=weights, minlength=self.runs * width)
        sums: Matrix = counts.astype(np.float64, copy=False)
        return sums if index is None else sums.reshape(self.runs, width)

    def weights(self) -> Matrix:
        if self.cells.w is None and self.lengths is not None:
            return self.lengths.astype(np.float64)
        return self._sum(self.cells.w)

    def classes(self, c0: int, c1: int) -> Matrix:
        y, w = self.cells.y, self.cells.w
        if c1 - c0 == self.n_classes:
            return self._sum(w, y, c1)
        inside = (y >= c0) & (y < c1)
        weights: Matrix = np.where(inside, 1.0 if w is None else w, 0.0)
        return self._sum(weights, np.where(inside, y - c0, 0), c1 - c0)

    def targets(self, mean: Matrix) -> Matrix:
        return self._sum(self.cells.centred(mean))


class RunScores:
    """Scores of the runs of some groups, each group a node's candidate column (all of the
    node's samples, so a group's totals are its node's)."""

    def __init__(self, stats: NodeStats, rules: GrowthRules, block: int, n_classes: int,
                 sums: RunSums, group: Ints, group_first: Ints, group_segment: Ints) -> None:
        self.stats, self.rules, self.block, self.n_classes = stats, rules, block, n_classes
        self.sums = sums
        self.group, self.group_first, self.group_segment = group, group_first, group_segment
        self.run_segment = group_segment[group]
        self.runs = len(group)

    def along(self, per_run: Matrix, group_total: Matrix) -> Matrix:
        """Cumulative sums of `per_run` ((runs,) or (runs, c), changed in place) restarted at
        each group, whose sums are `group_total`."""
        # The running sum enters a group holding the previous group's total: take it off.
        per_run[self.group_first[1:]] -= group_total[:-1]
        result: Matrix = np.cumsum(per_run, axis=0, out=per_run)
        return result

    def scores(self, last: Bools) -> Matrix:
        """Each run's score as the last run of a left child; -inf where that is no split."""
        stats = self.stats
        w_left = self.along(self.sums.weights(), stats.weight[self.group_segment])
        w_right = stats.weight[self.run_segment] - w_left
        leaf = self.rules.min_samples_leaf
        valid = ~last & (w_left >= leaf) & (w_right >= leaf)
        np.copyto(w_left, 1.0, where=~valid)
        np.copyto(w_right, 1.0, where=~valid)
        if not self.n_classes:
            s_left = self.along(self.sums.targets(stats.mean),
                                stats.totals[self.group_segment, 0])
            s_right = stats.totals[self.run_segment, 0] - s_left
            score = s_left**2 / w_left + s_right**2 / w_right
        elif self.rules.criterion == "entropy":
            score = self._entropy(w_left, w_right)
        else:
            score = self._gini(w_left, w_right)
        return np.where(valid, score, -np.inf)

    def _class_blocks(self) -> Iterator[tuple[Matrix, Matrix]]:
        """Per block of classes: the left side's class weights (runs, classes in block) and
        the node's totals of them; all classes at once unless past the memory bound."""
        c = self.n_classes
        width = max(1, min(c, self.block // max(self.runs, 1)))
        totals = self.stats.totals
        for c0 in range(0, c, width):
            c1 = min(c, c0 + width)
            left = self.along(self.sums.classes(c0, c1), totals[self.group_segment, c0:c1])
            yield left, totals[self.run_segment, c0:c1]

    def _gini(self, w_left: Matrix, w_right: Matrix) -> Matrix:
        # sum_c R_c^2 = sum_c T_c^2 - 2 sum_c T_c L_c + sum_c L_c^2
        left_squares, cross = np.zeros(self.runs), np.zeros(self.runs)
        for left, total in self._class_blocks():
            left_squares += np.einsum("ij,ij->i", left, left)
            cross += np.einsum("ij,ij->i", left, total)
        totals = self.stats.totals
        squares = np.einsum("ij,ij->i", totals, totals)[self.run_segment]
        cross *= -2.0
        cross += squares
        cross += left_squares  # now the right side's sum of squared class weights
        left_squares /= w_left
        cross /= w_right
        gini: Matrix = left_squares + cross
        return gini

    def _entropy(self, w_left: Matrix, w_right: Matrix) -> Matrix:
        acc = np.zeros(self.runs)
        for left, total in self._class_blocks():
            acc += xlogx(left).sum(axis=1) + xlogx(total - left).sum(axis=1)
        result: Matrix = acc - xlogx(w_left) - xlogx(w_right)
        return result


class _Columns:
    """One group of candidate columns of a level, folded into runs of equal values."""

    def __init__(self, level: LevelData, stats: NodeStats, features: Ints | None,
                 columns: Ints, rules: GrowthRules, block: int) -> None:
        self.level = level
        m, seg = level.rows, level.segment_of_row
        if features is None:
            self.feature_of: Ints = np.broadcast_to(columns[:, None], (len(columns), m))
            samples = level.order[columns[0]:columns[-1] + 1]
        else:
            self.feature_of = np.take(features[:, columns].T, seg, axis=1)
            samples = np.take(level.order, self.feature_of * m + np.arange(m))
        # Flat indices: a 1-D take is much faster than indexing with two index arrays.
        n = level.xt.shape[1]
        self.values = np.take(level.xt, (self.feature_of * n + level.sample_rows[samples]
                                         ).ravel())
        self.columns = columns
        starts = level.starts[:-1]
        fresh = np.empty(len(self.values), dtype=bool)
        fresh[0] = True
        np.not_equal(self.values[1:], self.values[:-1], out=fresh[1:])
        fresh.reshape(len(columns), m)[:, starts] = True
        self.first_cell = np.flatnonzero(fresh)
        lengths = np.diff(self.first_cell, append=len(self.values))
        run_of_cell = np.repeat(np.arange(len(self.first_cell)), lengths)
        run_segment = seg[self.first_cell % m]
        group = (self.first_cell // m) * level.segments + run_segment
        group_first = run_of_cell.reshape(len(columns), m)[:, starts].ravel()
        self.last = np.ones(len(self.first_cell), dtype=bool)
        self.last[:-1] = group[1:] != group[:-1]
        cells = Cells.gathered(level, samples.ravel(), np.tile(seg, len(columns)))
        sums = CellSums(cells, run_of_cell, len(self.first_cell), level.n_classes, lengths)
        self.runs = RunScores(stats, rules, block, level.n_classes, sums, group, group_first,
                              np.tile(np.arange(level.segments), len(columns)))

    def offer_to(self, best: BestSplits) -> None:
        runs = self.runs
        score = runs.scores(self.last)
        top, winner = first_max(score, runs.group, runs.group_first)
        n = self.level.segments
        by_column = top.reshape(len(self.columns), n)
        column = np.argmax(by_column, axis=0)
        nodes = np.flatnonzero(by_column[column, np.arange(n)] > -np.inf)
        column = column[nodes]
        end = self.first_cell[winner[column * n + nodes] + 1] - 1  # the left's last cell
        feature = self.feature_of[column, self.level.starts[nodes]]
        best.offer(nodes, feature, between(self.values[end], self.values[end + 1]),
                   by_column[column, nodes])
