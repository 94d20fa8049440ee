"""The prediction job: a saved model applied to every row of a dataset, kept as a new dataset.

The source is read one Parquet row group at a time (progress after each); the new dataset has
the source's columns plus the model's output: `cluster` (k-means), `prediction` and
`probability` (the predicted class' share of the votes) for classifiers, `prediction` for
regressors. A row with a missing or non-finite feature gets null outputs. The new dataset takes
the job's id, like an ingested one.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from core.errors import NotFound
from core.store.datasets import NUMERIC_TYPES, DatasetDoc
from core.store.jobs import JobDoc
from core.store.models_fitted import FittedModel, ModelUnreadable, load_fitted
from workers.deps import WorkerDeps
from workers.errors import JobFailed
from workers.ingest.infer import profile
from workers.ingest.pipeline import dataset_key, row_group_rows
from workers.ml.matrix import feature_matrix
from workers.progress import JobProgressReporter
from workers.threads import in_job_thread


def output_columns(fitted: FittedModel, x: np.ndarray[Any, Any]) -> dict[str, pa.Array]:
    """The model's output columns for these rows (null where a feature is missing)."""
    complete = np.all(np.isfinite(x), axis=1)
    missing = ~complete
    if not complete.any():
        prediction = fitted.predict(np.zeros((0, len(fitted.features))))
    else:
        prediction = fitted.predict(x[complete])
    n = len(x)
    if fitted.task == "clustering":
        cluster = np.zeros(n, dtype=np.int64)
        cluster[complete] = prediction.labels
        return {"cluster": pa.array(cluster, mask=missing)}
    if fitted.task == "regression":
        value = np.zeros(n)
        value[complete] = prediction.labels
        return {"prediction": pa.array(value, mask=missing)}
    assert fitted.classes is not None and prediction.shares is not None
    index = np.zeros(n, dtype=np.int64)
    index[complete] = prediction.labels
    share = np.zeros(n)
    share[complete] = prediction.shares.max(axis=1)
    names = pa.array(fitted.classes, type=pa.string()).take(pa.array(index))
    return {"prediction": pa.array(names, mask=missing),
            "probability": pa.array(share, mask=missing)}


def _renamed(columns: dict[str, pa.Array], taken: list[str]) -> dict[str, pa.Array]:
    """Output names that do not clash with the source's columns (`prediction_2`, ...)."""
    result = {}
    for name, values in columns.items():
        unique, n = name, 1
        while unique in taken:
            n += 1
            unique = f"{name}_{n}"
        result[unique] = values
    return result


async def predict_dataset(deps: WorkerDeps, job: JobDoc,
                          report: JobProgressReporter) -> dict[str, Any]:
    saved = await deps.stores.models.get(str(job.params.get("model_id", "")))
    source = await deps.stores.datasets.get(job.dataset_id or "")
    if saved is None or source is None:
        raise JobFailed("not_found", "the model or the dataset no longer exists")
    unfit = [f for f in saved.features
             if (c := source.column(f)) is None or c.type not in NUMERIC_TYPES]
    if unfit:
        raise JobFailed("invalid_parameters", f"the dataset lacks numeric columns {unfit}")
    await report.step("loading", 5)
    try:
        fitted = await load_fitted(deps.objects, saved)
        data = await deps.objects.get_bytes(source.object_key)
    except NotFound as exc:
        raise JobFailed("not_found", str(exc)) from exc
    except ModelUnreadable as exc:
        raise JobFailed("model_unreadable", exc.message) from exc
    table = await _predict(fitted, pq.ParquetFile(io.BytesIO(data)), report)
    await report.step("writing", 85)
    key = dataset_key(job.id)
    await _write(deps, table, key)
    columns = await in_job_thread(profile, table)
    dataset = DatasetDoc(
        id=job.id, project_id=job.project_id, upload_id=source.upload_id, job_id=job.id,
        name=f"{source.name} ({saved.algorithm} predictions)", format="predictions",
        rows=table.num_rows, columns=columns, object_key=key, created_by=job.created_by)
    await report.step("saving", 95)
    await deps.stores.datasets.save(dataset)
    return {"dataset_id": dataset.id, "rows": dataset.rows, "columns": len(columns),
            "model_id": saved.id, "source_dataset_id": source.id}


async def discard(deps: WorkerDeps, job: JobDoc) -> None:
    await deps.stores.datasets.delete(job.id)
    await deps.objects.delete(dataset_key(job.id))


async def _predict(fitted: FittedModel, parquet: pq.ParquetFile,
                   report: JobProgressReporter) -> pa.Table:
    groups = parquet.metadata.num_row_groups
    parts: list[pa.Table] = []
    for index in range(groups):
        await report.step("predicting", 10 + 75 * index / max(groups, 1))
        part = await in_job_thread(parquet.read_row_group, index)
        outputs = await in_job_thread(_outputs, fitted, part)
        for name, values in _renamed(outputs, part.column_names).items():
            part = part.append_column(name, values)
        parts.append(part)
    if not parts:
        raise JobFailed("invalid_parameters", "the dataset has no rows")
    return pa.concat_tables(parts)


def _outputs(fitted: FittedModel, part: pa.Table) -> dict[str, pa.Array]:
    return output_columns(fitted, feature_matrix(part, fitted.features))


async def _write(deps: WorkerDeps, table: pa.Table, key: str) -> None:
    with tempfile.TemporaryDirectory(prefix="roomcast-predict-") as tmp:
        target = Path(tmp) / "data.parquet"
        await in_job_thread(pq.write_table, table, target, compression="zstd",
                            row_group_size=row_group_rows(table.num_columns))
        data = await in_job_thread(target.read_bytes)
    await deps.objects.put_bytes(key, data, content_type="application/vnd.apache.parquet")
