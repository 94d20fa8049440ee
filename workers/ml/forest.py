"""A random-forest classifier: bootstrap samples, feature sampling per node, majority vote."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from workers.ml.tree import REPORT_EVERY_SECONDS, DecisionTree, Labels, Matrix, Progress


@dataclass
class RandomForest:
    n_estimators: int = 100
    max_depth: int | None = None
    min_samples_leaf: int = 1
    max_features: int | None = None  # None: the square root of the feature count
    seed: int = 0
    report_every: float = REPORT_EVERY_SECONDS  # within a tree, as DecisionTree's
    trees: list[DecisionTree] = field(default_factory=list)
    n_classes: int = 0
    importances: Matrix = field(default_factory=lambda: np.zeros(0))

    def fit(
        self, x: Matrix, y: Labels, progress: Progress | None = None,
        n_classes: int | None = None,
    ) -> RandomForest:
        self.n_classes = n_classes or int(y.max()) + 1
        rng = np.random.default_rng(self.seed)
        per_node = self.max_features or max(1, int(np.sqrt(x.shape[1])))
        self.trees = []
        for i in range(self.n_estimators):
            sample = rng.integers(0, len(y), size=len(y))
            tree = DecisionTree(max_depth=self.max_depth, min_samples_leaf=self.min_samples_leaf,
                                max_features=per_node, seed=int(rng.integers(2**31)),
                                report_every=self.report_every)
            self.trees.append(tree.fit(x[sample], y[sample], self.n_classes,
                                       _within(progress, i, self.n_estimators)))
            if progress is not None:
                progress((i + 1) / self.n_estimators)
        self.importances = np.mean([t.importances for t in self.trees], axis=0)
        return self

    def predict(self, x: Matrix) -> Labels:
        votes = np.zeros((len(x), self.n_classes))
        rows = np.arange(len(x))
        for tree in self.trees:
            votes[rows, tree.predict(x)] += 1
        labels: Labels = np.argmax(votes, axis=1).astype(np.int64)
        return labels


def _within(progress: Progress | None, i: int, n: int) -> Progress | None:
    """Tree i's own progress as a share of the whole forest's."""
    if progress is None:
        return None
    return lambda fraction: progress((i + fraction) / n)
