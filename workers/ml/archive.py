"""Keeping what an analysis fitted: the model's files, its document, k-means' row labels.

Everything takes the analysis job's id, so a rerun replaces it; `discard` removes it all
when the job fails or is cancelled.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from numpy.typing import NDArray

from core.store.datasets import DatasetDoc
from core.store.jobs import AnalysisParams, JobDoc
from core.store.models_fitted import FittedModel
from core.store.models_saved import SavedModelDoc, model_prefix
from workers.deps import WorkerDeps


def labels_key(model_id: str) -> str:
    return model_prefix(model_id) + "labels.csv"


def labels_csv(dataset_rows: int, rows: NDArray[np.int64], labels: NDArray[np.int64]) -> bytes:
    """`row,cluster` for every row of the dataset; the cluster is empty for a row left out
    of the fit (a missing value)."""
    cluster = np.full(dataset_rows, -1, dtype=np.int64)
    cluster[rows] = labels
    table = pa.table({"row": pa.array(np.arange(dataset_rows)),
                      "cluster": pa.array(cluster, mask=cluster < 0)})
    buffer = io.BytesIO(b"row,cluster\n")  # pyarrow would quote the names
    buffer.seek(0, io.SEEK_END)
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
    return buffer.getvalue()


async def keep(deps: WorkerDeps, job: JobDoc, dataset: DatasetDoc, fitted: FittedModel,
               params: AnalysisParams, metrics: dict[str, Any], rows: NDArray[np.int64],
               labels: NDArray[np.int64] | None) -> SavedModelDoc:
    saved = SavedModelDoc(
        id=job.id, project_id=job.project_id, job_id=job.id, dataset_id=dataset.id,
        algorithm=params.algorithm, task=params.task, features=fitted.features,
        target=params.target, classes=fitted.classes,
        target_type=_column_type(dataset, params.target),
        clusters=None if fitted.centers is None else len(fitted.centers),
        params=params.model_dump(mode="json"), metrics=metrics, rows=len(rows),
        created_by=job.created_by,
    )
    arrays, meta = fitted.to_files({"algorithm": params.algorithm, "target": params.target,
                                    "model_id": saved.id})
    await deps.objects.put_bytes(saved.arrays_key, arrays, content_type="application/x-npz")
    await deps.objects.put_bytes(saved.meta_key, meta, content_type="application/json")
    if labels is not None:
        saved.labels_key = labels_key(saved.id)
        await deps.objects.put_bytes(saved.labels_key, labels_csv(dataset.rows, rows, labels),
                                     content_type="text/csv")
    # The document last: a model exists once its files do.
    return await deps.stores.models.save(saved)


async def discard(deps: WorkerDeps, job: JobDoc) -> None:
    await deps.stores.models.delete(job.id)
    prefix = model_prefix(job.id)
    for name in ("arrays.npz", "model.json", "labels.csv"):
        await deps.objects.delete(prefix + name)


def _column_type(dataset: DatasetDoc, name: str | None) -> str | None:
    column = dataset.column(name) if name else None
    return None if column is None else column.type
