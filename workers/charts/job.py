"""The chart job: a dataset's current table -> aggregated values -> PNG, SVG and a Vega-Lite
spec, stored with the visualization."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from core.errors import NotFound, ValidationFailed
from core.objects_file import RangeFile
from core.store.jobs import JobDoc
from core.store.records_table import Overlay, current_batches
from core.store.visualizations import VisualizationDoc, check_spec
from workers.charts.aggregate import chart_values, needed_columns
from workers.charts.render import render
from workers.charts.vega import vega_lite
from workers.deps import WorkerDeps
from workers.errors import BadParameters, JobFailed
from workers.progress import JobProgressReporter

T = TypeVar("T")
POLL_SECONDS = 0.2  # how often a job waiting for its thread checks whether it was cancelled


async def in_thread(report: JobProgressReporter, stage: str, progress: float,
                    work: Callable[..., T], *args: Any) -> T:
    """`work(*args)` in a thread, the job checking every POLL_SECONDS whether it must stop
    (a cancelled job raises JobCancelled then, however long the work would take; the thread
    runs to its end and its result is dropped)."""
    running = asyncio.ensure_future(asyncio.to_thread(work, *args))
    try:
        while True:
            done, _ = await asyncio.wait({running}, timeout=POLL_SECONDS)
            if done:
                return running.result()
            await report.step(stage, progress)
    finally:
        if not running.done():
            running.add_done_callback(_dropped)


def _dropped(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: an abandoned thread's error is not logged as lost


def chart_key(visualization_id: str, kind: str) -> str:
    return f"charts/{visualization_id}/chart.{kind}"


async def _visualization(deps: WorkerDeps, job: JobDoc) -> VisualizationDoc:
    found = await deps.stores.visualizations.get(str(job.params.get("visualization_id")))
    if found is None:
        raise JobFailed("not_found", "the visualization was deleted")
    return found


async def chart(deps: WorkerDeps, job: JobDoc, report: JobProgressReporter) -> dict[str, Any]:
    visualization = await _visualization(deps, job)
    dataset = await deps.stores.datasets.get(visualization.dataset_id)
    if dataset is None:
        raise JobFailed("not_found", "the dataset no longer exists")
    try:
        spec = check_spec(dataset, visualization.spec)
    except ValidationFailed as exc:
        raise BadParameters(f"{exc.message}: {exc.details}") from exc
    await report.step("loading", 5)
    try:
        size = await deps.objects.size(dataset.object_key)
    except NotFound as exc:
        raise JobFailed("not_found", "the dataset's rows are gone") from exc
    overlay = Overlay.of(dataset.rows, await deps.stores.records.for_dataset(dataset.id))
    # Ranged reads: only the footer and the chart's columns are fetched.
    source = RangeFile(deps.objects, dataset.object_key, size, asyncio.get_running_loop())
    parquet = await in_thread(report, "loading", 5, pq.ParquetFile, source)
    groups = max(1, parquet.metadata.num_row_groups)
    batches = current_batches(parquet, overlay, needed_columns(spec))
    tables: list[pa.Table] = []
    # One row group per step; a cancelled job stops within POLL_SECONDS of any step.
    while (table := await in_thread(report, "loading", 5 + 45 * len(tables) / groups,
                                    next, batches, None)) is not None:
        tables.append(table)
        await report.step("loading", 5 + 45 * min(1.0, len(tables) / groups))
    table = pa.concat_tables(tables) if tables else pa.table({})
    await report.step("aggregating", 55)
    values = await in_thread(report, "aggregating", 55, chart_values, table, spec)
    await report.step("rendering", 70)
    png, svg = await in_thread(report, "rendering", 70, render, spec, values)
    await report.step("saving", 90)
    vega = vega_lite(spec, values)
    await deps.objects.put_bytes(chart_key(visualization.id, "png"), png,
                                 content_type="image/png")
    await deps.objects.put_bytes(chart_key(visualization.id, "svg"), svg,
                                 content_type="image/svg+xml")
    stored = await deps.stores.visualizations.finish(
        visualization.id, vega=vega, png_key=chart_key(visualization.id, "png"),
        svg_key=chart_key(visualization.id, "svg"), points=len(values), rows=table.num_rows,
        # The version read, should the table have changed since the chart was asked for.
        dataset_version=dataset.version)
    if not stored:  # deleted while it was being made: the runner discards the images
        raise JobFailed("not_found", "the visualization was deleted")
    url = f"/api/v1/visualizations/{visualization.id}"
    return {"visualization_id": visualization.id, "dataset_id": dataset.id,
            "kind": spec.kind, "rows": table.num_rows, "points": len(values),
            "spec_bytes": len(orjson.dumps(vega)), "url": url, "png_url": f"{url}/image/png",
            "svg_url": f"{url}/image/svg"}


async def discard(deps: WorkerDeps, job: JobDoc) -> None:
    visualization_id = str(job.params.get("visualization_id"))
    for kind in ("png", "svg"):
        await deps.objects.delete(chart_key(visualization_id, kind))
