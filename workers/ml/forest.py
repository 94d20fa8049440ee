"""Random forests, classifier or regressor: bootstrap samples, a random subset of features at
each node, predictions averaged over the trees (class shares, or target values).

Trees are grown in batches by one `BatchGrower`, a level of every tree of a batch at a time;
a batch holds as many trees as fit in `STATE_CELLS` cells of sorted sample lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from core.store.models_trees import TreeSet
from workers.ml.growth import MAX_NODE_VALUES, BatchGrower, GrownTree, GrowthRules
from workers.ml.levels import Criterion
from workers.ml.ticker import Progress, Ticker
from workers.ml.tree import REPORT_EVERY_SECONDS, TreePredictor, check_training, targets

Matrix = NDArray[np.float64]
Labels = NDArray[np.int64]

STATE_CELLS = 1 << 23


@dataclass
class RandomForest(TreePredictor):
    n_estimators: int = 100
    criterion: Criterion = "gini"
    max_depth: int | None = None
    min_samples_leaf: int = 1
    # None: the square root of the feature count for classifiers (as scikit-learn), a third
    # of them for regressors (Breiman's choice; scikit-learn's default is all of them).
    max_features: int | None = None
    seed: int = 0
    report_every: float = REPORT_EVERY_SECONDS  # within the fit, as DecisionTree's
    n_classes: int = 0
    nodes: TreeSet | None = None
    importances: Matrix = field(default_factory=lambda: np.zeros(0))

    def features_per_node(self, d: int) -> int:
        if self.max_features is not None:
            return max(1, min(self.max_features, d))
        share = d / 3 if self.regression else np.sqrt(d)
        return max(1, int(share))

    def fit(
        self, x: Matrix, y: NDArray[np.generic], progress: Progress | None = None,
        n_classes: int | None = None,
    ) -> RandomForest:
        check_training(x, y, self.criterion)
        labels, self.n_classes = targets(y, self.criterion, n_classes)
        n, d = x.shape
        rules = GrowthRules(self.criterion, self.max_depth, 2, self.min_samples_leaf,
                            self.features_per_node(d))
        rng = np.random.default_rng(self.seed)
        grower = BatchGrower(x, labels, self.n_classes, rules, rng)
        # About 63 % of the rows are in a bootstrap sample.
        per_batch = max(1, min(self.n_estimators, STATE_CELLS // max(1, int(0.64 * n * d))))
        tick = Ticker(progress, self.report_every)
        trees: list[GrownTree] = []
        while len(trees) < self.n_estimators:
            count = min(per_batch, self.n_estimators - len(trees))
            draws = rng.integers(0, n, size=(count, n))
            weights = np.stack([np.bincount(row, minlength=n) for row in draws]).astype(float)
            share = tick.part(len(trees) / self.n_estimators, count / self.n_estimators)
            used = sum(len(t.feature) for t in trees) * max(self.n_classes, 1)
            trees += grower.grow(weights, share, MAX_NODE_VALUES - used)
            share.done()
        self.nodes = TreeSet.of(trees)
        self.importances = _mean_importances(trees, d)
        return self


def _mean_importances(trees: list[GrownTree], d: int) -> Matrix:
    """Each tree's impurity decreases normalized to sum 1, averaged (as scikit-learn)."""
    shares = [t.gains / t.gains.sum() for t in trees if t.gains.sum() > 0]
    if not shares:
        return np.zeros(d)
    mean: Matrix = np.mean(shares, axis=0)
    normalized: Matrix = mean / mean.sum()
    return normalized
