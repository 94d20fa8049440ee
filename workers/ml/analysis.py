"""The analysis job: a dataset's numeric columns -> k-means or a classifier -> result + PNGs."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.errors import NotFound, ValidationFailed
from core.store.datasets import analysis_columns
from core.store.jobs import AnalysisParams, JobDoc
from workers.deps import WorkerDeps
from workers.errors import BadParameters, JobFailed
from workers.ml.forest import RandomForest
from workers.ml.kmeans import KMeansError, kmeans, silhouette
from workers.ml.metrics import accuracy, confusion_matrix, train_test_split
from workers.ml.pca import pca
from workers.ml.plots import clusters_png, confusion_png, importances_png
from workers.ml.tree import DecisionTree
from workers.progress import JobProgressReporter

Matrix = np.ndarray[Any, np.dtype[np.float64]]


def artifact_key(job_id: str, name: str) -> str:
    return f"artifacts/{job_id}/{name}"


class _Thread:
    """Lets code running in a worker thread report steps to the job's event loop."""

    def __init__(self, report: JobProgressReporter, stage: str, start: float, span: float):
        self._loop = asyncio.get_running_loop()
        self._report, self._stage, self._start, self._span = report, stage, start, span

    def __call__(self, fraction: float) -> None:
        step = self._report.step(self._stage, self._start + self._span * fraction)
        # Blocking here is the point: a cancelled job raises inside the computation.
        asyncio.run_coroutine_threadsafe(step, self._loop).result()


async def analyse(deps: WorkerDeps, job: JobDoc, report: JobProgressReporter) -> dict[str, Any]:
    params = AnalysisParams.model_validate(job.params)
    dataset = await deps.stores.datasets.get(job.dataset_id or "")
    if dataset is None:
        raise JobFailed("not_found", "the dataset no longer exists")
    needs_target = params.algorithm != "kmeans"
    try:
        features = analysis_columns(dataset, features=params.features, target=params.target,
                                    needs_target=needs_target)
    except ValidationFailed as exc:
        raise BadParameters(f"{exc.message}: {exc.details}") from exc
    await report.step("loading", 5)
    try:
        data = await deps.objects.get_bytes(dataset.object_key)
    except NotFound as exc:
        raise JobFailed("not_found", "the dataset's rows are gone") from exc
    table = await asyncio.to_thread(pq.read_table, io.BytesIO(data))
    x, y, classes = await asyncio.to_thread(_matrix, table, features, params.target)
    if params.standardize:
        x = _standardize(x)
    if params.algorithm == "kmeans":
        result, pictures = await _kmeans(x, params, report)
    else:
        assert y is not None
        result, pictures = await _classify(x, y, classes, features, params, report)
    await report.step("saving", 95)
    urls = []
    for name, png in pictures.items():
        key = artifact_key(job.id, name)
        await deps.objects.put_bytes(key, png, content_type="image/png")
        urls.append({"name": name, "key": key})
    return {"algorithm": params.algorithm, "features": features, "rows": len(x),
            **result, "pictures": urls}


async def discard(deps: WorkerDeps, job: JobDoc) -> None:
    for name in ("clusters.png", "importances.png", "confusion.png"):
        await deps.objects.delete(artifact_key(job.id, name))


def _matrix(
    table: pa.Table, features: list[str], target: str | None
) -> tuple[Matrix, np.ndarray[Any, np.dtype[np.int64]] | None, list[str]]:
    columns = [pc.cast(table.column(f), pa.float64()).to_numpy() for f in features]
    x = np.column_stack(columns).astype(np.float64)
    keep = np.all(np.isfinite(x), axis=1)
    y = None
    classes: list[str] = []
    if target is not None:
        labels = table.column(target)
        keep &= ~np.asarray(labels.is_null().to_numpy(zero_copy_only=False))
        values = np.array([str(v) for v in labels.to_pylist()], dtype=object)
        classes = sorted({str(v) for v in values[keep]})
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index.get(str(v), -1) for v in values], dtype=np.int64)[keep]
    x = x[keep]
    if len(x) < 2:
        raise BadParameters("fewer than two complete rows to analyse")
    return x, y, classes


def _standardize(x: Matrix) -> Matrix:
    std = x.std(axis=0)
    scaled: Matrix = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return scaled


async def _kmeans(
    x: Matrix, params: AnalysisParams, report: JobProgressReporter
) -> tuple[dict[str, Any], dict[str, bytes]]:
    if params.k > len(x):
        raise BadParameters(f"k={params.k} exceeds the {len(x)} complete rows")
    await report.step("clustering", 10)
    progress = _Thread(report, "clustering", 10, 70)
    try:
        fit = await asyncio.to_thread(
            lambda: kmeans(x, params.k, restarts=params.restarts, max_iter=params.max_iter,
                           seed=params.seed, progress=progress))
    except KMeansError as exc:  # k above the distinct points
        raise BadParameters(str(exc)) from exc
    await report.step("scoring", 82)
    score = await asyncio.to_thread(silhouette, x, fit.labels, seed=params.seed)
    projected, explained = await asyncio.to_thread(pca, np.vstack([x, fit.centers]))
    png = await asyncio.to_thread(clusters_png, projected[: len(x)], fit.labels,
                                  projected[len(x):], list(explained))
    result = {
        "k": params.k, "inertia": fit.inertia, "silhouette": score,
        "iterations": fit.iterations,
        "cluster_sizes": np.bincount(fit.labels, minlength=params.k).tolist(),
        "centers": fit.centers.tolist(),
    }
    return result, {"clusters.png": png}


async def _classify(
    x: Matrix, y: np.ndarray[Any, np.dtype[np.int64]], classes: list[str],
    features: list[str], params: AnalysisParams, report: JobProgressReporter,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    if len(classes) < 2:
        raise BadParameters("the target column has fewer than two classes")
    train, test = train_test_split(len(y), test_fraction=params.test_fraction, seed=params.seed)
    await report.step("training", 10)
    progress: Callable[[float], None] = _Thread(report, "training", 10, 70)
    model: DecisionTree | RandomForest
    if params.algorithm == "decision_tree":
        model = DecisionTree(max_depth=params.max_depth, seed=params.seed,
                             min_samples_leaf=params.min_samples_leaf)
        await asyncio.to_thread(model.fit, x[train], y[train], len(classes), progress)
    else:
        model = RandomForest(n_estimators=params.n_estimators, max_depth=params.max_depth,
                             min_samples_leaf=params.min_samples_leaf, seed=params.seed)
        await asyncio.to_thread(model.fit, x[train], y[train], progress, len(classes))
    await report.step("scoring", 85)
    predicted = (await asyncio.to_thread(model.predict, x[test])).astype(np.int64)
    matrix = confusion_matrix(y[test], predicted, len(classes))
    importances = model.importances
    pictures = {
        "importances.png": await asyncio.to_thread(importances_png, features, importances),
        "confusion.png": await asyncio.to_thread(confusion_png, matrix, classes),
    }
    result = {
        "target": params.target, "classes": classes,
        "accuracy": accuracy(y[test], predicted), "train_rows": len(train),
        "test_rows": len(test), "confusion_matrix": matrix.tolist(),
        "importances": dict(zip(features, importances.tolist(), strict=True)),
    }
    return result, pictures
