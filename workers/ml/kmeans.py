"""k-means with k-means++ seeding and restarts, in vectorized NumPy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Matrix = NDArray[np.float64]
Progress = Callable[[float], None]


@dataclass(frozen=True)
class KMeansResult:
    centers: Matrix
    labels: NDArray[np.int64]
    inertia: float
    iterations: int


def squared_distances(x: Matrix, centers: Matrix) -> Matrix:
    # |x|^2 - 2 x.c + |c|^2: one matrix product instead of an n*k*d tensor.
    d = (x * x).sum(1)[:, None] - 2.0 * x @ centers.T + (centers * centers).sum(1)[None, :]
    clipped: Matrix = np.maximum(d, 0.0)
    return clipped


def kmeans_plus_plus(x: Matrix, k: int, rng: np.random.Generator) -> Matrix:
    n = len(x)
    centers = np.empty((k, x.shape[1]))
    centers[0] = x[rng.integers(n)]
    closest = squared_distances(x, centers[:1])[:, 0]
    trials = 2 + int(np.log(k))  # greedy k-means++: best of a few candidates per center
    for i in range(1, k):
        total = closest.sum()
        if total <= 0:
            centers[i:] = x[rng.integers(n, size=k - i)]
            break
        candidates = rng.choice(n, size=trials, p=closest / total)
        dist = np.minimum(closest[None, :], squared_distances(x, x[candidates]).T)
        best = int(np.argmin(dist.sum(1)))
        centers[i] = x[candidates[best]]
        closest = dist[best]
    return centers


def lloyd(
    x: Matrix, centers: Matrix, max_iter: int, tol: float
) -> KMeansResult:
    k = len(centers)
    labels = np.zeros(len(x), dtype=np.int64)
    iteration = 0
    for iteration in range(1, max_iter + 1):  # noqa: B007
        labels = np.argmin(squared_distances(x, centers), axis=1)
        counts = np.bincount(labels, minlength=k).astype(np.float64)
        sums = np.zeros_like(centers)
        np.add.at(sums, labels, x)
        moved = centers.copy()
        filled = counts > 0
        moved[filled] = sums[filled] / counts[filled, None]
        shift = float(((moved - centers) ** 2).sum())
        centers = moved
        if shift <= tol:
            break
    distances = squared_distances(x, centers)
    labels = np.argmin(distances, axis=1)
    inertia = float(distances[np.arange(len(x)), labels].sum())
    return KMeansResult(centers, labels, inertia, iteration)


def kmeans(
    x: Matrix, k: int, *, restarts: int = 5, max_iter: int = 300, tol: float = 1e-4,
    seed: int = 0, progress: Progress | None = None,
) -> KMeansResult:
    """Best of `restarts` runs by inertia. `tol` is relative to the data's variance."""
    rng = np.random.default_rng(seed)
    absolute_tol = tol * float(np.mean(np.var(x, axis=0)))
    best: KMeansResult | None = None
    for run in range(restarts):
        result = lloyd(x, kmeans_plus_plus(x, k, rng), max_iter, absolute_tol)
        if best is None or result.inertia < best.inertia:
            best = result
        if progress is not None:
            progress((run + 1) / restarts)
    assert best is not None
    return best


def silhouette(
    x: Matrix, labels: NDArray[np.int64], *, sample: int = 2000, seed: int = 0
) -> float | None:
    """Mean silhouette on a random sample (quadratic in the sample size, so it is bounded)."""
    if len(np.unique(labels)) < 2:
        return None
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(x), size=min(sample, len(x)), replace=False)
    xs, ls = x[pick], labels[pick]
    dist = np.sqrt(squared_distances(xs, xs))
    clusters = np.unique(ls)
    onehot = (ls[:, None] == clusters[None, :]).astype(np.float64)
    sizes = onehot.sum(0)
    mean_to = dist @ onehot  # sum of distances to each cluster
    own = (ls[:, None] == clusters[None, :])
    own_size = sizes[np.argmax(own, axis=1)]
    a = np.where(own_size > 1, mean_to[own] / np.maximum(own_size - 1, 1), 0.0)
    other = np.where(own, np.inf, mean_to / sizes[None, :])
    b = other.min(axis=1)
    s = np.where(own_size > 1, (b - a) / np.maximum(a, b), 0.0)
    return float(s.mean())
