"""k-means (Lloyd) with greedy k-means++ seeding and restarts, in vectorized NumPy.

The data is centred first (k-means does not care where the origin is): distances by the
expanded formula |x|^2 - 2 x.c + |c|^2 then keep their precision on data far from the origin,
and the reported inertia is summed from the residuals x - c themselves. Distances are computed
in blocks of rows (one matrix product each), so memory stays bounded whatever the row count.
A cluster left empty by an iteration takes the point farthest from its centre, as
scikit-learn does, so no cluster is silently empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from workers.ml.ticker import Progress, Ticker

Matrix = NDArray[np.float64]
Labels = NDArray[np.int64]
Ints = NDArray[np.int64]

BLOCK_ROWS = 1 << 13
SMALL_CELLS = 1 << 16  # rows x clusters up to which every distance is computed at once
# Bounds pay once fewer than this share of the rows changed cluster in an iteration.
SETTLED_SHARE = 0.05
REPORT_EVERY_SECONDS = 0.25


@dataclass(frozen=True)
class KMeansResult:
    centers: Matrix
    labels: Labels
    inertia: float
    iterations: int


class KMeansError(ValueError):
    """Input k-means cannot cluster: non-finite values, or fewer distinct points than k."""


def check_input(x: Matrix, k: int) -> None:
    if x.ndim != 2 or len(x) == 0 or x.shape[1] == 0:
        raise KMeansError("x must be a non-empty (rows, features) matrix")
    if not np.isfinite(x).all():
        raise KMeansError("x holds NaN or infinite values; drop or fill them first")
    if not 1 <= k <= len(x):
        raise KMeansError(f"k={k} must be between 1 and the {len(x)} rows")


@dataclass(frozen=True)
class _Data:
    """The centred rows, their squared norms, and the columns [x | 1] transposed (one
    contiguous row per feature, then a row of ones): one product [-2c | |c|^2] . columns
    gives |c|^2 - 2 x.c for every centre and row, laid out a centre per row."""

    x: Matrix
    squared: Matrix
    columns: Matrix

    @classmethod
    def of(cls, centred: Matrix) -> _Data:
        columns = np.ones((centred.shape[1] + 1, len(centred)))
        columns[:-1] = centred.T
        return cls(centred, np.einsum("ij,ij->i", centred, centred), columns)

    @cached_property
    def distances(self) -> Matrix:
        """[x | 1 | |x|^2] transposed: one product with [-2c | |c|^2 | 1] is |x - c|^2."""
        result: Matrix = np.vstack([self.columns, self.squared])
        return result

    def rows(self, rows: Ints) -> _Data:
        return _Data(self.x[rows], self.squared[rows], np.take(self.columns, rows, axis=1))


def _scaled(centers: Matrix) -> Matrix:
    """[-2c | |c|^2], one row per centre."""
    return np.column_stack([-2.0 * centers, np.einsum("ij,ij->i", centers, centers)])


def nearest(data: _Data, centers: Matrix, second: bool = False
            ) -> tuple[Labels, Matrix, Matrix]:
    """Each row's nearest centre, its distance to it and (if `second`) to the next nearest
    (an empty array otherwise). Distances are laid out one centre per row, so the running
    minimum over centres is a few whole-row operations (no per-row argmin)."""
    scaled = _scaled(centers)
    n, k = len(data.x), len(centers)
    labels, first = np.zeros(n, dtype=np.int64), np.empty(n)
    runner_up = np.full(n if second else 0, np.inf)
    better, spare = np.empty(BLOCK_ROWS, dtype=bool), np.empty(BLOCK_ROWS)
    for start in range(0, n, BLOCK_ROWS):
        part = slice(start, start + BLOCK_ROWS)
        d = scaled @ data.columns[:, part]  # (centres, rows of the block)
        best, label = first[part], labels[part]
        best[:] = d[0]
        is_better, candidate = better[:len(best)], spare[:len(best)]
        for j in range(1, k):
            np.less(d[j], best, out=is_better)
            if second:  # the old best becomes second where row j wins, else min(second, j)
                np.minimum(runner_up[part], d[j], out=candidate)
                np.copyto(candidate, best, where=is_better)
                runner_up[part] = candidate
            np.minimum(best, d[j], out=best)
            np.copyto(label, j, where=is_better)
    first = np.sqrt(np.maximum(first + data.squared, 0.0))
    if second:
        runner_up = np.sqrt(np.maximum(runner_up + data.squared, 0.0))
    return labels, first, runner_up


def cluster_sums(x: Matrix, labels: Labels, k: int) -> tuple[Matrix, Matrix]:
    """Per cluster: the sum of its rows and its size."""
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    sums: Matrix
    if x.shape[1] <= 8:
        sums = np.stack([np.bincount(labels, weights=column, minlength=k) for column in x.T],
                        axis=1).astype(np.float64, copy=False)
    else:
        sums = np.zeros((k, x.shape[1]))
        for start in range(0, len(x), BLOCK_ROWS):
            part = slice(start, start + BLOCK_ROWS)
            onehot = (labels[part, None] == np.arange(k)).astype(np.float64)
            sums += onehot.T @ x[part]
    return sums, counts


def kmeans_plus_plus(data: _Data, k: int, rng: np.random.Generator,
                     tick: Ticker | None = None) -> Matrix:
    """Greedy k-means++: each new centre is the best of a few candidates drawn with
    probability proportional to the squared distance to the centres so far."""
    x, n = data.x, len(data.x)
    centers = np.empty((k, x.shape[1]))
    centers[0] = x[rng.integers(n)]
    closest = np.maximum(_scaled(centers[:1])[0] @ data.columns + data.squared, 0.0)
    trials = 2 + int(np.log(k))
    for i in range(1, k):
        if tick is not None:
            tick.within()
        cumulative = np.cumsum(closest)
        if cumulative[-1] <= 0:
            raise KMeansError(f"k={k} exceeds the {i} distinct points in the data")
        picks = np.searchsorted(cumulative, rng.random(trials) * cumulative[-1], side="right")
        candidates = x[np.minimum(picks, n - 1)]
        scaled = np.column_stack([_scaled(candidates), np.ones(trials)])
        d = scaled @ data.distances  # (trials, rows): a candidate's row contiguous
        np.minimum(d, closest, out=d)
        best = int(np.argmin(d.sum(axis=1)))
        centers[i] = candidates[best]
        closest = np.maximum(d[best], 0.0)
    return centers


def lloyd_small(data: _Data, centers: Matrix, max_iter: int, tol: float,
                tick: Ticker) -> KMeansResult:
    """Lloyd's iterations on data small enough for every distance at once: fewest calls.
    The cluster sums are updated by the rows that changed cluster only."""
    k, x = len(centers), data.x
    classes = np.arange(k)
    columns = data.columns.T  # [x | 1], a row per data row
    labels = np.argmin(columns @ _scaled(centers).T, axis=1)
    sums = (labels[:, None] == classes).astype(np.float64).T @ x
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    iteration = 0
    for iteration in range(1, max_iter + 1):
        tick(iteration / max_iter)
        if not counts.all():
            _, distance, _ = nearest(data, centers)
            return lloyd(data, _relocate(x, distance, centers.copy(), counts == 0), max_iter,
                         tol, tick)
        moved = sums / counts[:, None]
        shift = float(((moved - centers) ** 2).sum())
        centers, previous = moved, labels
        labels = np.argmin(columns @ _scaled(centers).T, axis=1)
        rows = np.flatnonzero(labels != previous)
        if not len(rows) or shift <= tol:
            break
        into = (labels[rows, None] == classes).astype(np.float64)
        out_of = (previous[rows, None] == classes).astype(np.float64)
        sums += (into - out_of).T @ x[rows]
        counts += into.sum(axis=0) - out_of.sum(axis=0)
    return KMeansResult(centers, labels, _inertia(x, labels, centers), iteration)


def lloyd(data: _Data, centers: Matrix, max_iter: int, tol: float,
          tick: Ticker) -> KMeansResult:
    """Lloyd's iterations until the labels stop changing or the centres move less than `tol`
    in all. While many rows still change cluster every row is measured; once few do, only
    rows whose nearest centre may have changed are (Hamerly's bounds): the same iterations
    and result as measuring every row every time. The cluster sums are updated by the rows
    that changed cluster only."""
    k, x = len(centers), data.x
    labels, upper, lower = nearest(data, centers)
    sums, counts = cluster_sums(x, labels, k)
    # Rounding in the bounds must never keep a row that has to move: a margin, in the data's
    # own scale, on every comparison.
    margin = 1e-9 * float(np.sqrt(np.max(data.squared)) + 1.0)
    bounded, settling = False, False
    iteration = 0
    for iteration in range(1, max_iter + 1):
        tick(iteration / max_iter)
        moved = centers.copy()
        filled = counts > 0
        moved[filled] = sums[filled] / counts[filled, None]
        if not filled.all():
            moved = _relocate(x, upper, moved, ~filled)
        step = np.sqrt(((moved - centers) ** 2).sum(axis=1))
        centers = moved
        if bounded:
            upper += step[labels]
            lower -= _farthest_other(step)[labels] + margin
            rows, before = _reassign(data, centers, labels, upper, lower, margin)
        else:
            new, upper, lower = nearest(data, centers, second=settling)
            rows = np.flatnonzero(new != labels)
            before, labels = labels[rows], new
            bounded = settling
            settling = len(rows) < SETTLED_SHARE * len(x)
        if len(rows):
            _move(x, rows, before, labels[rows], sums, counts)
        if not len(rows) or float((step**2).sum()) <= tol:
            break
    return KMeansResult(centers, labels, _inertia(x, labels, centers), iteration)


def _farthest_other(step: Matrix) -> Matrix:
    """Per centre: the largest step of any other centre (how much closer it may have come)."""
    largest = int(np.argmax(step))
    others = np.full(len(step), step[largest])
    others[largest] = np.partition(step, -2)[-2] if len(step) > 1 else 0.0
    return others


def _reassign(data: _Data, centers: Matrix, labels: Labels, upper: Matrix, lower: Matrix,
              margin: float) -> tuple[Ints, Labels]:
    """Update each row's nearest centre (`labels`, in place) given bounds on its distance to
    its centre (`upper`) and to any other (`lower`); only rows whose bounds overlap are
    looked at again. Returns the rows that changed centre and their previous centres."""
    gap = np.sqrt(np.maximum(_pairwise(centers), 0.0))
    np.fill_diagonal(gap, np.inf)
    half = 0.5 * gap.min(axis=1) - margin
    bound = np.maximum(half[labels], lower)
    rows: Ints = np.flatnonzero(upper > bound)
    if len(rows):
        residual = data.x[rows] - centers[labels[rows]]
        upper[rows] = np.sqrt(np.einsum("ij,ij->i", residual, residual))
        rows = rows[upper[rows] > bound[rows]]
    if not len(rows):
        return rows, rows
    new, upper[rows], lower[rows] = nearest(data.rows(rows), centers, second=True)
    changed = new != labels[rows]
    rows, new = rows[changed], new[changed]
    before = labels[rows]
    labels[rows] = new
    return rows, before


def _move(x: Matrix, rows: Ints, out_of: Labels, into: Labels, sums: Matrix,
          counts: Matrix) -> None:
    """Take `rows` out of their previous clusters' sums and into their new ones'."""
    k = len(counts)
    counts += np.bincount(into, minlength=k) - np.bincount(out_of, minlength=k)
    for j, column in enumerate(x[rows].T):
        sums[:, j] += (np.bincount(into, weights=column, minlength=k)
                       - np.bincount(out_of, weights=column, minlength=k))


def _pairwise(centers: Matrix) -> Matrix:
    squared = np.einsum("ij,ij->i", centers, centers)
    result: Matrix = squared[:, None] - 2.0 * (centers @ centers.T) + squared[None, :]
    return result


def _relocate(x: Matrix, distance: Matrix, centers: Matrix,
              empty: NDArray[np.bool_]) -> Matrix:
    """Move each empty cluster's centre onto one of the points farthest from their own."""
    count = int(empty.sum())
    far = np.argpartition(distance, -count)[-count:]
    centers[np.flatnonzero(empty)] = x[far]
    return centers


def _inertia(x: Matrix, labels: Labels, centers: Matrix) -> float:
    """The sum of squared residuals, computed from the residuals (not the expanded formula)."""
    total = 0.0
    for start in range(0, len(x), BLOCK_ROWS):
        part = slice(start, start + BLOCK_ROWS)
        residual = x[part] - centers[labels[part]]
        total += float(np.einsum("ij,ij->", residual, residual))
    return total


def kmeans(
    x: Matrix, k: int, *, restarts: int = 5, max_iter: int = 300, tol: float = 1e-4,
    seed: int = 0, progress: Progress | None = None,
    report_every: float = REPORT_EVERY_SECONDS,
) -> KMeansResult:
    """Best of `restarts` runs by inertia. `tol` is relative to the data's mean variance
    (as scikit-learn's). Raises KMeansError for non-finite data or k above the distinct
    points."""
    check_input(x, k)
    rng = np.random.default_rng(seed)
    offset = x.mean(axis=0)
    data = _Data.of(np.ascontiguousarray(x - offset, dtype=np.float64))
    absolute_tol = tol * float(data.squared.sum()) / data.x.size  # the mean variance
    tick = Ticker(progress, report_every)
    best: KMeansResult | None = None
    for run in range(restarts):
        share = tick.part(run / restarts, 1 / restarts)
        seeds = kmeans_plus_plus(data, k, rng, share)
        iterate = lloyd_small if len(x) * k <= SMALL_CELLS else lloyd
        result = iterate(data, seeds, max_iter, absolute_tol, share)
        if best is None or result.inertia < best.inertia:
            best = result
        share.done()
    assert best is not None
    return KMeansResult(best.centers + offset, best.labels, best.inertia, best.iterations)


def silhouette(
    x: Matrix, labels: Labels, *, sample: int = 2000, seed: int = 0
) -> float | None:
    """Mean silhouette on a random sample (quadratic in the sample size, so it is bounded)."""
    if len(np.unique(labels)) < 2:
        return None
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(x), size=min(sample, len(x)), replace=False)
    xs, ls = x[pick] - x[pick].mean(axis=0), labels[pick]
    squared = np.einsum("ij,ij->i", xs, xs)
    dist = np.sqrt(np.maximum(squared[:, None] - 2.0 * (xs @ xs.T) + squared[None, :], 0.0))
    clusters = np.unique(ls)
    own = ls[:, None] == clusters[None, :]
    sizes = own.sum(0)
    mean_to = dist @ own.astype(np.float64)  # sum of distances to each cluster
    own_size = sizes[np.argmax(own, axis=1)]
    a = np.where(own_size > 1, mean_to[own] / np.maximum(own_size - 1, 1), 0.0)
    other = np.where(own, np.inf, mean_to / sizes[None, :])
    b = other.min(axis=1)
    s = np.where(own_size > 1, (b - a) / np.maximum(a, b), 0.0)
    return float(s.mean())
