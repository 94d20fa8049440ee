"""CART decision trees: a classifier (Gini or entropy) and a regressor (squared error).

Grown breadth first by `workers/ml/growth.py`; fitted, a tree is a one-tree `TreeSet`. A fit
reports its progress (the share of samples settled in leaves) at every level and, inside a
long level, every `report_every` seconds of its own compute time; the report is where a
running job notices a cancellation, which it raises there and so stops the fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from core.store.models_trees import TreeSet
from workers.ml.growth import BatchGrower, GrowthRules
from workers.ml.levels import Criterion
from workers.ml.ticker import Progress, Ticker

Matrix = NDArray[np.float64]
Labels = NDArray[np.int64]

REPORT_EVERY_SECONDS = 0.25
CLASSIFIER_CRITERIA = ("gini", "entropy")


def check_training(x: Matrix, y: NDArray[np.generic], criterion: Criterion) -> None:
    """ValueError, saying what is wrong, for data no tree can be fitted on."""
    if x.ndim != 2 or len(x) != len(y) or len(x) == 0 or x.shape[1] == 0:
        raise ValueError("x must be a non-empty (rows, features) matrix with one y per row")
    if not np.isfinite(x).all():
        raise ValueError("x holds NaN or infinite values")
    if criterion == "squared_error":
        if not np.isfinite(y).all():
            raise ValueError("y holds NaN or infinite values")
    elif criterion not in CLASSIFIER_CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}")
    elif len(y) and int(np.min(y.astype(np.int64, copy=False))) < 0:
        raise ValueError("class labels must be indices 0, 1, ...")


def targets(y: NDArray[np.generic], criterion: Criterion,
            n_classes: int | None) -> tuple[NDArray[np.generic], int]:
    if criterion == "squared_error":
        return np.asarray(y, dtype=np.float64), 0
    labels = np.asarray(y, dtype=np.int64)
    return labels, n_classes or int(labels.max()) + 1


class TreePredictor:
    """Prediction for a fitted tree or forest (its `nodes`): class indices for a
    classifier (the highest mean share), target values for a regressor."""

    criterion: Criterion
    nodes: TreeSet | None

    @property
    def regression(self) -> bool:
        return self.criterion == "squared_error"

    def predict_proba(self, x: Matrix) -> Matrix:
        if self.nodes is None:
            raise ValueError("not fitted yet")
        return self.nodes.mean_value(x)

    def predict(self, x: Matrix) -> NDArray[np.generic]:
        values = self.predict_proba(x)
        if self.regression:
            return values[:, 0]
        labels: Labels = np.argmax(values, axis=1).astype(np.int64)
        return labels


@dataclass
class DecisionTree(TreePredictor):
    criterion: Criterion = "gini"
    max_depth: int | None = None
    min_samples_split: int = 2
    min_samples_leaf: int = 1
    max_features: int | None = None  # features tried per node; None means all
    seed: int = 0
    # Fitting time between progress reports; time spent inside a report does not count.
    report_every: float = REPORT_EVERY_SECONDS
    n_classes: int = 0
    nodes: TreeSet | None = None
    importances: Matrix = field(default_factory=lambda: np.zeros(0))

    def rules(self) -> GrowthRules:
        return GrowthRules(self.criterion, self.max_depth, self.min_samples_split,
                           self.min_samples_leaf, self.max_features)

    def fit(
        self, x: Matrix, y: NDArray[np.generic], n_classes: int | None = None,
        progress: Progress | None = None,
    ) -> DecisionTree:
        check_training(x, y, self.criterion)
        labels, self.n_classes = targets(y, self.criterion, n_classes)
        grower = BatchGrower(x, labels, self.n_classes, self.rules(),
                             np.random.default_rng(self.seed))
        tick = Ticker(progress, self.report_every)
        (grown,) = grower.grow(np.ones((1, len(x))), tick)
        self.nodes = TreeSet.of([grown])
        total = grown.gains.sum()
        self.importances = grown.gains / total if total > 0 else grown.gains
        return self
