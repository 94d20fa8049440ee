"""Train/test split, accuracy and the confusion matrix."""

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
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix
