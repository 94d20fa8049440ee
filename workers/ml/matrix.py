"""From a dataset's table to the arrays an analysis fits: features, target, and which rows.

Rows with a missing or non-finite feature (or target) are left out of the fit; `rows` keeps
the dataset index of each row used, so per-row outputs (cluster labels) map back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from core.store.jobs import Task
from workers.errors import BadParameters

Matrix = NDArray[np.float64]


@dataclass(frozen=True)
class TrainingData:
    x: Matrix
    y: NDArray[Any] | None  # class indices, or target values; None for clustering
    classes: list[str]  # a classifier's classes, as text, sorted
    rows: NDArray[np.int64]  # each row's index in the dataset


@dataclass(frozen=True)
class Scaling:
    offset: Matrix
    scale: Matrix

    @classmethod
    def of(cls, x: Matrix, standardize: bool) -> Scaling:
        """Zero mean and unit variance per feature, or the identity."""
        d = x.shape[1]
        if not standardize:
            return cls(np.zeros(d), np.ones(d))
        std = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(std > 0, std, 1.0))

    def apply(self, x: Matrix) -> Matrix:
        result: Matrix = (x - self.offset) / self.scale
        return result


def feature_matrix(table: pa.Table, features: list[str]) -> Matrix:
    columns = [pc.cast(table.column(f), pa.float64()).to_numpy(zero_copy_only=False)
               for f in features]
    return np.column_stack(columns).astype(np.float64) if columns else np.zeros((0, 0))


def training_data(table: pa.Table, features: list[str], target: str | None,
                  task: Task) -> TrainingData:
    x = feature_matrix(table, features)
    keep = np.all(np.isfinite(x), axis=1)
    y: NDArray[Any] | None = None
    classes: list[str] = []
    if target is not None and task == "regression":
        values = pc.cast(table.column(target), pa.float64()).to_numpy(zero_copy_only=False)
        keep &= np.isfinite(values)
        y = values[keep]
    elif target is not None:
        labels = table.column(target)
        keep &= ~np.asarray(labels.is_null().to_numpy(zero_copy_only=False))
        text = np.array([str(v) for v in labels.to_pylist()], dtype=object)
        classes = sorted({str(v) for v in text[keep]})
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index.get(str(v), -1) for v in text], dtype=np.int64)[keep]
    rows = np.flatnonzero(keep)
    if len(rows) < 2:
        raise BadParameters("fewer than two complete rows to analyse")
    return TrainingData(x[keep], y, classes, rows)
