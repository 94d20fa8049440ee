"""The picture of each result, rendered to PNG bytes with matplotlib's Agg backend."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

MAX_POINTS = 5000


def _figure() -> tuple[Any, Any]:
    # The object-oriented API keeps no global state, so threads can render at once.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.8), dpi=100)
    return figure, figure.add_subplot()


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def clusters_png(
    points: NDArray[np.float64], labels: NDArray[np.int64], centers: NDArray[np.float64],
    explained: Sequence[float],
) -> bytes:
    figure, ax = _figure()
    if len(points) > MAX_POINTS:
        pick = np.random.default_rng(0).choice(len(points), MAX_POINTS, replace=False)
        points, labels = points[pick], labels[pick]
    ax.scatter(points[:, 0], points[:, 1], c=labels, s=6, cmap="tab10")
    ax.scatter(centers[:, 0], centers[:, 1], c="black", marker="x", s=60)
    share = [f"{100 * v:.0f} %" for v in explained] + ["0 %", "0 %"]
    ax.set_xlabel(f"PC1 ({share[0]})")
    ax.set_ylabel(f"PC2 ({share[1]})")
    ax.set_title(f"{len(centers)} clusters")
    return _png(figure)


def importances_png(names: Sequence[str], importances: NDArray[np.float64]) -> bytes:
    figure, ax = _figure()
    order = np.argsort(importances)[-30:]
    ax.barh([names[i] for i in order], importances[order])
    ax.set_xlabel("importance")
    return _png(figure)


def confusion_png(matrix: NDArray[np.int64], classes: Sequence[str]) -> bytes:
    figure, ax = _figure()
    ax.imshow(matrix, cmap="Blues")
    ticks = list(range(len(classes)))
    ax.set_xticks(ticks, [str(c) for c in classes], rotation=45)
    ax.set_yticks(ticks, [str(c) for c in classes])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center")
    return _png(figure)


def predicted_png(actual: NDArray[np.float64], predicted: NDArray[np.float64]) -> bytes:
    """Predicted against actual values of the held-out rows, with the line where they agree."""
    figure, ax = _figure()
    if len(actual) > MAX_POINTS:
        pick = np.random.default_rng(0).choice(len(actual), MAX_POINTS, replace=False)
        actual, predicted = actual[pick], predicted[pick]
    ax.scatter(actual, predicted, s=6, alpha=0.6)
    low = float(min(np.min(actual), np.min(predicted))) if len(actual) else 0.0
    high = float(max(np.max(actual), np.max(predicted))) if len(actual) else 1.0
    ax.plot([low, high], [low, high], color="black", linewidth=1)
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title("held-out rows")
    return _png(figure)
