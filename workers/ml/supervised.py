"""The supervised analyses: a tree or a forest, classifier or regressor, fitted on a seeded
training split and scored on the held-out rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.store.jobs import AnalysisParams
from core.store.models_trees import TreeSet
from workers.errors import BadParameters
from workers.ml.forest import RandomForest
from workers.ml.matrix import Matrix, TrainingData
from workers.ml.metrics import accuracy, confusion_matrix, regression_scores, train_test_split
from workers.ml.plots import confusion_png, importances_png, predicted_png
from workers.ml.ticker import Progress
from workers.ml.tree import DecisionTree
from workers.threads import in_job_thread


@dataclass
class Outcome:
    """What an analysis produced: its result fields, its pictures and what it fitted."""

    result: dict[str, Any]
    pictures: dict[str, bytes]
    metrics: dict[str, Any]
    trees: TreeSet | None = None
    centers: Matrix | None = None
    labels: NDArray[np.int64] | None = None  # k-means: each training row's cluster


def estimator(params: AnalysisParams) -> DecisionTree | RandomForest:
    if params.algorithm in ("decision_tree", "decision_tree_regressor"):
        return DecisionTree(criterion=params.split_criterion, max_depth=params.max_depth,
                            min_samples_leaf=params.min_samples_leaf, seed=params.seed)
    return RandomForest(n_estimators=params.n_estimators, criterion=params.split_criterion,
                        max_depth=params.max_depth, min_samples_leaf=params.min_samples_leaf,
                        seed=params.seed)


async def supervise(x: Matrix, data: TrainingData, features: list[str],
                    params: AnalysisParams, progress: Progress) -> Outcome:
    """Fit on the training split (`progress` reports from inside the fit) and score."""
    assert data.y is not None
    classify = params.task == "classification"
    y: NDArray[Any] = data.y
    if classify and len(data.classes) < 2:
        raise BadParameters("the target column has fewer than two classes")
    train, test = train_test_split(len(y), test_fraction=params.test_fraction, seed=params.seed)
    model = estimator(params)
    n_classes = len(data.classes) if classify else None
    if isinstance(model, DecisionTree):
        await in_job_thread(model.fit, x[train], y[train], n_classes, progress)
    else:
        await in_job_thread(model.fit, x[train], y[train], progress, n_classes)
    predicted = await in_job_thread(model.predict, x[test])
    importances = model.importances
    common = {"target": params.target, "train_rows": len(train), "test_rows": len(test),
              "importances": dict(zip(features, importances.tolist(), strict=True))}
    pictures = {"importances.png": await in_job_thread(importances_png, features,
                                                       importances)}
    if classify:
        truth: NDArray[np.int64] = y[test].astype(np.int64)
        guess: NDArray[np.int64] = predicted.astype(np.int64)
        matrix = confusion_matrix(truth, guess, len(data.classes))
        scores: dict[str, Any] = {"accuracy": accuracy(truth, guess)}
        result = {**common, "criterion": params.split_criterion, "classes": data.classes,
                  **scores, "confusion_matrix": matrix.tolist()}
        pictures["confusion.png"] = await in_job_thread(confusion_png, matrix, data.classes)
    else:
        actual: Matrix = y[test].astype(np.float64)
        values: Matrix = predicted.astype(np.float64)
        scores = regression_scores(actual, values)
        result = {**common, **scores}
        pictures["predicted.png"] = await in_job_thread(predicted_png, actual, values)
    return Outcome(result, pictures, scores, trees=model.nodes)
