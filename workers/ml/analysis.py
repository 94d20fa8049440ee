"""The analysis job: a dataset's numeric columns -> k-means, or a tree or forest classifier or
regressor -> result, pictures, and a saved model that predicts."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from pydantic import ValidationError

from core.errors import NotFound, ValidationFailed
from core.store.datasets import analysis_columns
from core.store.jobs import AnalysisParams, JobDoc
from core.store.models_fitted import FittedModel
from workers.deps import WorkerDeps
from workers.errors import BadParameters, JobCancelled, JobFailed
from workers.ml import archive
from workers.ml.growth import ModelTooLarge
from workers.ml.kmeans import KMeansError, kmeans, silhouette
from workers.ml.matrix import Matrix, Scaling, training_data
from workers.ml.pca import pca
from workers.ml.plots import clusters_png
from workers.ml.supervised import Outcome, supervise
from workers.progress import JobProgressReporter
from workers.threads import in_job_thread

PICTURES = ("clusters.png", "importances.png", "confusion.png", "predicted.png")


def artifact_key(job_id: str, name: str) -> str:
    return f"artifacts/{job_id}/{name}"


class _Thread:
    """Lets code running in a worker thread report steps to the job's event loop."""

    def __init__(self, report: JobProgressReporter, stage: str, start: float, span: float):
        self._loop = asyncio.get_running_loop()
        self._report, self._stage, self._start, self._span = report, stage, start, span

    def __call__(self, fraction: float) -> None:
        if self._loop.is_closed():  # the job's loop is gone (the worker stopped): stop too
            raise JobCancelled()
        step = self._report.step(self._stage, self._start + self._span * fraction)
        try:
            future = asyncio.run_coroutine_threadsafe(step, self._loop)
        except RuntimeError:  # closed between the check and the call
            step.close()
            raise JobCancelled() from None
        # Blocking here is the point: a cancelled job raises inside the computation.
        future.result()


def job_params(job: JobDoc) -> AnalysisParams:
    try:
        return AnalysisParams.from_stored(job.params)
    except ValidationError as exc:
        raise BadParameters(str(exc.errors(include_url=False)[0]["msg"])) from exc


async def analyse(deps: WorkerDeps, job: JobDoc, report: JobProgressReporter) -> dict[str, Any]:
    params = job_params(job)
    dataset = await deps.stores.datasets.get(job.dataset_id or "")
    if dataset is None:
        raise JobFailed("not_found", "the dataset no longer exists")
    try:
        features = analysis_columns(dataset, features=params.features, target=params.target,
                                    needs_target=params.task != "clustering",
                                    numeric_target=params.task == "regression")
    except ValidationFailed as exc:
        raise BadParameters(f"{exc.message}: {exc.details}") from exc
    await report.step("loading", 5)
    try:
        data = await deps.objects.get_bytes(dataset.object_key)
    except NotFound as exc:
        raise JobFailed("not_found", "the dataset's rows are gone") from exc
    table = await in_job_thread(pq.read_table, io.BytesIO(data))
    rows = await in_job_thread(training_data, table, features, params.target, params.task)
    scaling = Scaling.of(rows.x, params.standardize)
    x = scaling.apply(rows.x)
    try:
        if params.task == "clustering":
            outcome = await _cluster(x, params, report)
        else:
            await report.step("training", 10)
            outcome = await supervise(x, rows, features, params,
                                      _Thread(report, "training", 10, 70))
    except (KMeansError, ModelTooLarge) as exc:
        code = "model_too_large" if isinstance(exc, ModelTooLarge) else "invalid_parameters"
        raise JobFailed(code, str(exc)) from exc
    await report.step("saving", 95)
    fitted = FittedModel(params.task, features, scaling.offset, scaling.scale, outcome.trees,
                         outcome.centers, rows.classes or None)
    saved = await archive.keep(deps, job, dataset, fitted, params, outcome.metrics, rows.rows,
                               outcome.labels)
    return {"algorithm": params.algorithm, "features": features, "rows": len(x),
            **outcome.result, "model_id": saved.id,
            "pictures": await _pictures(deps, job, outcome.pictures)}


async def discard(deps: WorkerDeps, job: JobDoc) -> None:
    for name in PICTURES:
        await deps.objects.delete(artifact_key(job.id, name))
    await archive.discard(deps, job)


async def _pictures(deps: WorkerDeps, job: JobDoc,
                    pictures: dict[str, bytes]) -> list[dict[str, str]]:
    urls = []
    for name, png in pictures.items():
        key = artifact_key(job.id, name)
        await deps.objects.put_bytes(key, png, content_type="image/png")
        urls.append({"name": name, "key": key})
    return urls


async def _cluster(x: Matrix, params: AnalysisParams, report: JobProgressReporter) -> Outcome:
    if params.k > len(x):
        raise BadParameters(f"k={params.k} exceeds the {len(x)} complete rows")
    await report.step("clustering", 10)
    progress = _Thread(report, "clustering", 10, 70)
    fit = await in_job_thread(
        lambda: kmeans(x, params.k, restarts=params.restarts, max_iter=params.max_iter,
                       seed=params.seed, progress=progress))
    await report.step("scoring", 82)
    score = await in_job_thread(silhouette, x, fit.labels, seed=params.seed)
    projected, explained = await in_job_thread(pca, np.vstack([x, fit.centers]))
    png = await in_job_thread(clusters_png, projected[: len(x)], fit.labels,
                              projected[len(x):], list(explained))
    result = {
        "k": params.k, "inertia": fit.inertia, "silhouette": score,
        "iterations": fit.iterations,
        "cluster_sizes": np.bincount(fit.labels, minlength=params.k).tolist(),
        "centers": fit.centers.tolist(),
    }
    return Outcome(result, {"clusters.png": png}, {"inertia": fit.inertia, "silhouette": score},
                   centers=fit.centers, labels=fit.labels)

