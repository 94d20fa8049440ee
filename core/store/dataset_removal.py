"""Removing a dataset with everything made of it: its record changes, its charts (documents
and images), its Parquet object; chart jobs still running on it are cancelled.

Saved models trained on it, datasets predicted from it and the upload it came from stay: they
stand on their own. The project's deletion removes those too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.objects import ObjectStorage
from core.store.datasets import DatasetDoc
from core.store.jobs import JobDoc, JobStatus
from core.store.stores import Stores
from core.store.visualizations import VisualizationDoc


@dataclass
class Removed:
    records: int = 0
    visualizations: int = 0
    objects: int = 0
    # Queued jobs this ended as cancelled: the caller announces them (job.cancelled).
    cancelled: list[JobDoc] = field(default_factory=list)


async def remove_chart(stores: Stores, objects: ObjectStorage, chart: VisualizationDoc,
                       removed: Removed) -> None:
    """Stop the chart's job if it still runs (a queued one ends here, a running one at its
    next step, finding its chart gone), then delete its images and its document."""
    if await stores.jobs.request_cancel(chart.job_id) is not None:
        ended = await stores.jobs.finish(chart.job_id, None, JobStatus.CANCELLED,
                                         stage="cancelled")
        if ended is not None:
            removed.cancelled.append(ended)
    for key in (chart.png_key, chart.svg_key):
        if key:
            await objects.delete(key)
            removed.objects += 1
    await stores.visualizations.delete(chart.id)
    removed.visualizations += 1


async def remove_dataset(stores: Stores, objects: ObjectStorage,
                         dataset: DatasetDoc) -> Removed:
    """Delete the dataset first (every read of it answers 404 from then on), then what hangs
    on it."""
    removed = Removed()
    await stores.datasets.delete(dataset.id)
    removed.records = await stores.records.delete_for_dataset(dataset.id)
    for chart in await stores.visualizations.all_for_dataset(dataset.id):
        await remove_chart(stores, objects, chart, removed)
    await objects.delete(dataset.object_key)
    removed.objects += 1
    return removed
