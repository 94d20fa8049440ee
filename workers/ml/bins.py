"""Split search by counting, for data whose features have few distinct values (pixels,
codes, counts): no sorted lists to keep, which is what makes a forest costly when each node
tries only a few of many features.

Each feature's values are replaced once by their rank among its distinct values. At a level,
every (node, feature) pair to try owns one bin per distinct value of its feature; the bins
that hold samples are the pair's runs, in value order, and the cumulative sums over them
score every threshold (`RunScores`, as for sorted lists).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from workers.ml.levels import (
    BestSplits,
    Cells,
    Ints,
    LevelData,
    Matrix,
    NodeStats,
    between,
    first_max,
)
from workers.ml.splits import CellSums, RunScores, RunSums
from workers.ml.ticker import Ticker

if TYPE_CHECKING:
    from workers.ml.growth import GrowthRules

# Above this many distinct values in some feature, splits are searched in sorted lists.
MAX_DISTINCT = 64


@dataclass(frozen=True)
class Binning:
    ranks: Ints  # (features, rows): each value's rank among its feature's distinct values
    values: Matrix  # every feature's distinct values, one feature after the other
    first_value: Ints  # where each feature's distinct values start in `values`
    sizes: Ints  # distinct values per feature

    @classmethod
    def of(cls, xt: Matrix, sorted_rows: Ints) -> Binning | None:
        """The binning of these (features, rows) values, given each feature's sort order;
        None if a feature has too many distinct values."""
        ordered = np.take_along_axis(xt, sorted_rows, axis=1)
        fresh = np.ones(ordered.shape, dtype=bool)
        fresh[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
        sizes = fresh.sum(axis=1)
        if sizes.max(initial=0) > MAX_DISTINCT:
            return None
        ranks = np.empty(xt.shape, dtype=np.int64)
        np.put_along_axis(ranks, sorted_rows, np.cumsum(fresh, axis=1) - 1, axis=1)
        return cls(ranks, ordered[fresh], np.cumsum(sizes) - sizes, sizes)


def binned_splits(level: LevelData, stats: NodeStats, binning: Binning, k: int | None,
                  rules: GrowthRules, rng: np.random.Generator, block: int,
                  tick: Ticker) -> BestSplits:
    """Each node's best split among k features drawn from those not constant within it
    (drawn in rounds: a drawn feature found constant is replaced by another, as scikit-learn
    does), or among all features when k is None."""
    n = level.segments
    best = BestSplits.none(n)
    candidates = np.flatnonzero(binning.sizes > 1)
    wanted = len(candidates) if k is None else min(k, len(candidates))
    if wanted == len(candidates):  # every feature: whole features at a time, in one block
        step = max(1, block // max(level.rows, len(candidates) * n, 1))
        for f0 in range(0, len(candidates), step):
            tick.within()
            _Pairs.every(level, stats, binning, candidates[f0:f0 + step], rules, block
                         ).offer_per_feature(best)
        return best
    draws = candidates[np.argsort(rng.random((n, len(candidates))), axis=1)]
    found, taken = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    while (need := np.minimum(wanted - found, len(candidates) - taken)).any():
        segment = np.repeat(np.arange(n), need)
        slot = taken[segment] + np.arange(len(segment)) - np.repeat(np.cumsum(need) - need, need)
        feature = draws[segment, slot]
        cost = np.cumsum(level.lengths[segment])
        edges = [0, *np.searchsorted(cost, np.arange(block, cost[-1], block)), len(segment)]
        for lo, hi in itertools.pairwise(edges):
            tick.within()
            pairs = _Pairs.drawn(level, stats, binning, segment[lo:hi], feature[lo:hi], rules,
                                 block)
            varied = pairs.offer_per_node(best)
            found += np.bincount(segment[lo:hi], weights=varied, minlength=n).astype(np.int64)
        taken += need
    return best


class _Pairs:
    """A batch of (node, feature) pairs, their samples folded into runs of equal values."""

    @classmethod
    def every(cls, level: LevelData, stats: NodeStats, binning: Binning, features: Ints,
              rules: GrowthRules, block: int) -> _Pairs:
        """Every node paired with each of `features`, feature-major."""
        n, members = level.segments, level.order[0]
        segment = np.tile(np.arange(n), len(features))
        feature = np.repeat(features, n)
        pairs = cls(binning, segment, feature)
        # Pair (f, s) starts at bin first[f] + s * sizes[f]: feature-major, nodes within.
        sizes = binning.sizes[features][:, None]
        first = pairs.offset[::n][:, None]
        ranks = np.take(binning.ranks[features], level.sample_rows[members], axis=1)
        bins = (level.segment_of_row * sizes + first + ranks).ravel()
        pairs.fold(level, stats, rules, block, bins, Cells.tiled(level, len(features)))
        return pairs

    @classmethod
    def drawn(cls, level: LevelData, stats: NodeStats, binning: Binning, segment: Ints,
              feature: Ints, rules: GrowthRules, block: int) -> _Pairs:
        """Any pairs, node-major."""
        pairs = cls(binning, segment, feature)
        lengths = level.lengths[segment]
        cell_pair = np.repeat(np.arange(len(segment)), lengths)
        position = np.arange(len(cell_pair)) + np.repeat(
            level.starts[segment] - (np.cumsum(lengths) - lengths), lengths)
        samples = level.order[0][position]
        rank = binning.ranks[feature[cell_pair], level.sample_rows[samples]]
        pairs.fold(level, stats, rules, block, pairs.offset[cell_pair] + rank,
                   Cells.gathered(level, samples, segment[cell_pair]))
        return pairs

    def __init__(self, binning: Binning, segment: Ints, feature: Ints) -> None:
        self.binning, self.segment, self.feature = binning, segment, feature
        sizes = binning.sizes[feature]
        self.offset = np.cumsum(sizes) - sizes  # each pair's first bin
        self.bins = int(sizes.sum())

    def fold(self, level: LevelData, stats: NodeStats, rules: GrowthRules, block: int,
             bin_of_cell: Ints, cells: Cells) -> None:
        """The bins that hold samples become the runs, in value order within each pair."""
        c = max(level.n_classes, 1)
        sums: RunSums
        if self.bins * c <= len(bin_of_cell):  # few bins: count them all, keep the filled
            dense = _BinSums(cells, bin_of_cell, self.bins, level.n_classes)
            self.run_bin, sums = dense.filled, dense
        else:  # many bins, mostly empty: number the filled ones and count those
            counts = np.bincount(bin_of_cell, minlength=self.bins)
            self.run_bin = np.flatnonzero(counts)
            compact = np.zeros(self.bins, dtype=np.int64)
            compact[self.run_bin] = np.arange(len(self.run_bin))
            sums = CellSums(cells, compact[bin_of_cell], len(self.run_bin), level.n_classes,
                            counts[self.run_bin])
        self.run_pair = np.searchsorted(self.offset, self.run_bin, side="right") - 1
        self.pair_first = np.searchsorted(self.run_bin, self.offset)
        runs = RunScores(stats, rules, block, level.n_classes, sums, self.run_pair,
                         self.pair_first, self.segment)
        last = np.ones(len(self.run_bin), dtype=bool)
        last[:-1] = self.run_pair[1:] != self.run_pair[:-1]
        self.top, self.winner = first_max(runs.scores(last), self.run_pair, self.pair_first)

    def offer_per_feature(self, best: BestSplits) -> None:
        """Pairs are feature-major over every node: each node's best feature wins."""
        n = len(best.valid)
        by_feature = self.top.reshape(-1, n)
        column = np.argmax(by_feature, axis=0)
        self._offer(best, column * n + np.arange(n))

    def offer_per_node(self, best: BestSplits) -> Matrix:
        """Pairs are node-major: each node's first best pair wins. Returns which pairs were
        not constant (had two runs or more)."""
        node_first = np.flatnonzero(np.r_[True, self.segment[1:] != self.segment[:-1]])
        group = np.repeat(np.arange(len(node_first)), np.diff(node_first, append=len(self.top)))
        _, pair = first_max(self.top, group, node_first)
        self._offer(best, pair[pair >= 0])
        varied: Matrix = (np.diff(self.pair_first, append=len(self.run_bin)) > 1).astype(float)
        return varied

    def _offer(self, best: BestSplits, pair: Ints) -> None:
        pair = pair[self.winner[pair] >= 0]
        run, feature = self.winner[pair], self.feature[pair]
        base = self.binning.first_value[feature] - self.offset[pair]
        low = self.binning.values[base + self.run_bin[run]]
        high = self.binning.values[base + self.run_bin[run + 1]]
        best.offer(self.segment[pair], feature, between(low, high), self.top[pair])


class _BinSums:
    """Run sums read from a histogram of every bin (and class)."""

    def __init__(self, cells: Cells, bin_of_cell: Ints, bins: int, n_classes: int) -> None:
        self.cells, self.bin_of_cell, self.bins = cells, bin_of_cell, bins
        if n_classes:
            hist = np.bincount(bin_of_cell * n_classes + cells.y, weights=cells.w,
                               minlength=bins * n_classes).reshape(bins, n_classes)
            self.hist = hist.astype(np.float64, copy=False)
            weight = self.hist.sum(axis=1)
        else:
            weight = np.bincount(bin_of_cell, weights=cells.w, minlength=bins).astype(float)
        self.filled = np.flatnonzero(weight)
        self.weight = weight[self.filled].astype(np.float64)

    def weights(self) -> Matrix:
        weights: Matrix = self.weight.copy()
        return weights

    def classes(self, c0: int, c1: int) -> Matrix:
        result: Matrix = self.hist[self.filled, c0:c1]
        return result

    def targets(self, mean: Matrix) -> Matrix:
        sums = np.bincount(self.bin_of_cell, weights=self.cells.centred(mean),
                           minlength=self.bins)
        result: Matrix = sums[self.filled].astype(np.float64)
        return result
