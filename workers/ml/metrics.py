"""Train/test split and scores: accuracy and the confusion matrix; R², MAE and RMSE."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Labels = NDArray[np.int64]


def train_test_split(
    n: int, *, test_fraction: float = 0.25, seed: int = 0
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Indices of the training and test rows, shuffled reproducibly."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, round(n * test_fraction))
    return order[n_test:], order[:n_test]


def accuracy(truth: Labels, predicted: Labels) -> float:
    return float(np.mean(truth == predicted)) if len(truth) else 0.0


def confusion_matrix(truth: Labels, predicted: Labels, n_classes: int) -> NDArray[np.int64]:
    """Rows are true classes, columns predicted ones."""
    cells = np.bincount(truth * n_classes + predicted, minlength=n_classes * n_classes)
    return cells.reshape(n_classes, n_classes).astype(np.int64)


def regression_scores(truth: NDArray[np.float64],
                      predicted: NDArray[np.float64]) -> dict[str, float | None]:
    """R² (None when the truth is constant: it is undefined), MAE and RMSE."""
    residual = truth - predicted
    total = float(((truth - truth.mean()) ** 2).sum())
    r2 = 1.0 - float((residual**2).sum()) / total if total > 0 else None
    return {"r2": r2, "mae": float(np.abs(residual).mean()),
            "rmse": float(np.sqrt((residual**2).mean()))}
