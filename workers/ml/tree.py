"""A CART decision-tree classifier (Gini impurity) with a vectorized split search.

For each candidate feature the node's samples are sorted once; cumulative class counts then
give the impurity of every threshold in one array expression.

A long fit reports its progress (the share of samples settled in leaves) every
`report_every` seconds of its own compute time; the report is where a running job notices a
cancellation, which it raises there and so stops the fit at its next node.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Matrix = NDArray[np.float64]
Labels = NDArray[np.int64]

MAX_CELLS = 4_000_000  # cells of the cumulative-count tensor built at once
REPORT_EVERY_SECONDS = 0.25

Progress = Callable[[float], None]


@dataclass(frozen=True)
class Split:
    feature: int
    threshold: float
    gain: float  # weighted impurity decrease, in samples


def gini(counts: Matrix) -> Matrix:
    total = counts.sum(-1)
    share = counts / np.maximum(total, 1)[..., None]
    return np.asarray(1.0 - (share * share).sum(-1), dtype=np.float64)


def best_split(
    x: Matrix, y: Labels, n_classes: int, features: NDArray[np.int64], min_leaf: int
) -> Split | None:
    n = len(y)
    parent = float(gini(np.bincount(y, minlength=n_classes).astype(np.float64)))
    onehot = np.eye(n_classes)[y]
    # Several features at once, in groups small enough to bound the n*f*classes tensor.
    group = max(1, MAX_CELLS // max(n * n_classes, 1))
    best: Split | None = None
    for start in range(0, len(features), group):
        candidate = _best_in(x, onehot, features[start:start + group], min_leaf, parent * n)
        if candidate is not None and (best is None or candidate.gain > best.gain):
            best = candidate
    return best


def _best_in(
    x: Matrix, onehot: Matrix, features: NDArray[np.int64], min_leaf: int, parent: float
) -> Split | None:
    n = len(onehot)
    order = np.argsort(x[:, features], axis=0, kind="stable")  # n x f
    values = np.take_along_axis(x[:, features], order, axis=0)
    left = np.cumsum(onehot[order], axis=0)[:-1]  # (n-1) x f x classes: left holds 0..i
    right = left[-1] + onehot[order[-1]] - left
    n_left = np.arange(1, n, dtype=np.float64)[:, None]
    # Weighted Gini of a side is size - sum(counts^2) / size: the best split maximizes `purity`.
    purity = (left * left).sum(-1) / n_left + (right * right).sum(-1) / (n - n_left)
    valid = values[1:] > values[:-1]
    if min_leaf > 1:
        valid &= (n_left >= min_leaf) & (n - n_left >= min_leaf)
    if not valid.any():
        return None
    purity = np.where(valid, purity, -np.inf)
    i, j = np.unravel_index(int(np.argmax(purity)), purity.shape)
    gain = parent - (n - float(purity[i, j]))
    if gain <= 1e-12:
        return None
    threshold = float((values[i, j] + values[i + 1, j]) / 2)
    return Split(int(features[j]), threshold, gain)


@dataclass
class DecisionTree:
    max_depth: int | None = None
    min_samples_split: int = 2
    min_samples_leaf: int = 1
    max_features: int | None = None  # features tried per node; None means all
    seed: int = 0
    # Fitting time between progress reports; time spent inside a report does not count.
    report_every: float = REPORT_EVERY_SECONDS
    n_classes: int = 0
    feature: list[int] = field(default_factory=list)
    threshold: list[float] = field(default_factory=list)
    left: list[int] = field(default_factory=list)
    right: list[int] = field(default_factory=list)
    value: list[Matrix] = field(default_factory=list)
    importances: Matrix = field(default_factory=lambda: np.zeros(0))

    def fit(
        self, x: Matrix, y: Labels, n_classes: int | None = None,
        progress: Progress | None = None,
    ) -> DecisionTree:
        self.n_classes = n_classes or int(y.max()) + 1
        self.importances = np.zeros(x.shape[1])
        rng = np.random.default_rng(self.seed)
        stack: list[tuple[int, NDArray[np.int64], int]] = [(self._leaf(y), np.arange(len(y)), 0)]
        settled, last_report = 0, time.perf_counter()
        while stack:
            if progress is not None and time.perf_counter() - last_report >= self.report_every:
                progress(settled / len(y))  # raises to stop the fit (a cancelled job)
                last_report = time.perf_counter()
            node, idx, depth = stack.pop()
            split = self._split(x[idx], y[idx], depth, rng)
            if split is None:
                settled += len(idx)
                continue
            goes_left = x[idx, split.feature] <= split.threshold
            left_idx, right_idx = idx[goes_left], idx[~goes_left]
            self.feature[node], self.threshold[node] = split.feature, split.threshold
            self.left[node], self.right[node] = self._leaf(y[left_idx]), self._leaf(y[right_idx])
            self.importances[split.feature] += split.gain
            stack.append((self.left[node], left_idx, depth + 1))
            stack.append((self.right[node], right_idx, depth + 1))
        total = self.importances.sum()
        if total > 0:
            self.importances = self.importances / total
        return self

    def _split(
        self, x: Matrix, y: Labels, depth: int, rng: np.random.Generator
    ) -> Split | None:
        if len(y) < self.min_samples_split or (self.max_depth is not None
                                               and depth >= self.max_depth):
            return None
        if np.all(y == y[0]):
            return None
        d = x.shape[1]
        k = d if self.max_features is None else min(self.max_features, d)
        features = rng.permutation(d)[:k] if k < d else np.arange(d)
        return best_split(x, y, self.n_classes, features, self.min_samples_leaf)

    def _leaf(self, y: Labels) -> int:
        counts = np.bincount(y, minlength=self.n_classes).astype(np.float64)
        self.feature.append(-1)
        self.threshold.append(0.0)
        self.left.append(-1)
        self.right.append(-1)
        self.value.append(counts / max(counts.sum(), 1.0))
        return len(self.feature) - 1

    def predict_proba(self, x: Matrix) -> Matrix:
        feature, threshold = np.array(self.feature), np.array(self.threshold)
        left, right = np.array(self.left), np.array(self.right)
        node = np.zeros(len(x), dtype=np.int64)
        rows = np.arange(len(x))
        # All samples descend one level per pass; a tree's depth bounds the passes.
        while True:
            inner = feature[node] >= 0
            if not inner.any():
                break
            f = np.where(inner, feature[node], 0)
            go_left = x[rows, f] <= threshold[node]
            node = np.where(inner, np.where(go_left, left[node], right[node]), node)
        return np.stack(self.value)[node]

    def predict(self, x: Matrix) -> Labels:
        labels: Labels = np.argmax(self.predict_proba(x), axis=1).astype(np.int64)
        return labels
