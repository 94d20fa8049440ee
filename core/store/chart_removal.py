"""Removing a chart: its job stopped, its images and its document deleted. Used by
`DELETE /visualizations/{id}`, and by a dataset's deletion (core/store/cascade.py)."""

from __future__ import annotations

from core.objects import ObjectStorage
from core.store.jobs import JobDoc, JobStatus
from core.store.stores import Stores
from core.store.visualizations import VisualizationDoc


async def remove_chart(stores: Stores, objects: ObjectStorage,
                       chart: VisualizationDoc) -> JobDoc | None:
    """Stop the chart's job if it still runs (a queued one ends here, and is returned for the
    caller to announce; a running one stops at its next check, finding its chart gone), then
    delete the images and the document."""
    ended = None
    if await stores.jobs.request_cancel(chart.job_id) is not None:
        ended = await stores.jobs.finish(chart.job_id, None, JobStatus.CANCELLED,
                                         stage="cancelled")
    await objects.delete_prefix(f"charts/{chart.id}/")
    await stores.visualizations.delete(chart.id)
    return ended
