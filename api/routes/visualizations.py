"""REST routes: charts of a dataset, made by a job and kept per dataset version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from starlette.responses import Response

from api.authz import require_member
from api.context import AppContext
from api.routes.datasets import member_dataset
from api.routes.jobs_common import publish_job, start_job
from api.routes.projects import publish
from api.routes.uploads import object_response
from api.routing import Call, NoModel, Router, json_response
from core.errors import NotFound
from core.ids import new_id
from core.models import Page, PageParams
from core.store.chart_removal import remove_chart
from core.store.jobs import JobDoc, JobKind, JobStatus
from core.store.visualizations import ChartSpec, VisualizationDoc, check_spec, spec_hash

router = Router(tags=["visualizations"])

MEDIA = {"png": "image/png", "svg": "image/svg+xml"}


class VisualizationOut(BaseModel):
    id: str
    project_id: str
    dataset_id: str
    dataset_version: int = Field(description="the dataset version charted (asked of, until "
                                 "the job reads the table)")
    spec: ChartSpec
    status: str = Field(description="the job's: queued, running, succeeded, failed, cancelled")
    job_id: str
    cached: bool = Field(default=False,
                         description="answered from a chart made before (no new job)")
    vega: dict[str, Any] | None = Field(
        description="a Vega-Lite v5 spec with the aggregated data inline (when succeeded)")
    png_url: str | None
    svg_url: str | None
    points: int | None = Field(description="data values in the Vega-Lite spec")
    rows: int | None = Field(description="table rows the chart summarizes")
    error: dict[str, Any] | None = None
    created_by: str
    created_at: datetime
    finished_at: datetime | None


class VisualizationPage(Page[VisualizationOut]):
    pass


def location(visualization_id: str) -> str:
    return f"/api/v1/visualizations/{visualization_id}"


async def view(ctx: AppContext, chart: VisualizationDoc, cached: bool = False
               ) -> VisualizationOut:
    job = await ctx.stores.jobs.get(chart.job_id)
    status = JobStatus.SUCCEEDED.value if chart.ready else (
        job.status.value if job is not None else JobStatus.FAILED.value)
    error = None
    if job is not None and job.error_code:
        error = {"code": job.error_code, "message": job.error_message}
    url = location(chart.id)
    return VisualizationOut(
        **chart.model_dump(exclude={"spec_hash", "ready", "png_key", "svg_key"}),
        status=status, cached=cached, error=error,
        png_url=f"{url}/image/png" if chart.ready else None,
        svg_url=f"{url}/image/svg" if chart.ready else None)


async def member_chart(ctx: AppContext, call: Call[Any, Any]) -> VisualizationDoc:
    chart = await ctx.stores.visualizations.get(call.path["visualization_id"])
    if chart is None:
        raise NotFound("visualization not found")
    await require_member(ctx, chart.project_id, call.user, "visualization")
    return chart


@router.post("/datasets/{dataset_id}/visualizations", body=ChartSpec,
             response=VisualizationOut, status=202, also_ok=(200,), errors=(404, 422, 503))
async def create_visualization(call: Call[ChartSpec, NoModel]) -> Response:
    """Chart the dataset's current table: 202 and a job, or 200 with the chart made before
    of the same spec and dataset version (or 202 with the job still making it)."""
    dataset = await member_dataset(call.ctx, call)
    spec = check_spec(dataset, call.body)
    digest = spec_hash(spec)
    for earlier in await call.ctx.stores.visualizations.same(dataset.id, dataset.version,
                                                             digest):
        out = await view(call.ctx, earlier, cached=True)
        if out.status in ("succeeded", "queued", "running"):
            status = 200 if out.status == "succeeded" else 202
            return json_response(out, status, headers={"Location": location(earlier.id)})
    chart_id = new_id()
    job = JobDoc(project_id=dataset.project_id, kind=JobKind.VISUALIZATION,
                 created_by=call.user.user_id, dataset_id=dataset.id,
                 params={"visualization_id": chart_id, "spec": spec.model_dump(mode="json")},
                 max_attempts=call.ctx.settings.job_max_attempts)
    chart = VisualizationDoc(id=chart_id, project_id=dataset.project_id, dataset_id=dataset.id,
                             dataset_version=dataset.version, spec=spec, spec_hash=digest,
                             job_id=job.id, created_by=call.user.user_id)
    await call.ctx.stores.visualizations.create(chart)
    await start_job(call.ctx, job)
    out = await view(call.ctx, chart)
    await publish(call.ctx, f"project:{dataset.project_id}", "visualization.created",
                  {"visualization": out.model_dump(mode="json"), "by": call.user.user_id})
    return json_response(out, 202, headers={"Location": location(chart.id)})


@router.get("/datasets/{dataset_id}/visualizations", query=PageParams,
            response=VisualizationPage, errors=(404,))
async def list_visualizations(call: Call[NoModel, PageParams]) -> VisualizationPage:
    """The dataset's charts, newest first."""
    dataset = await member_dataset(call.ctx, call)
    page = await call.ctx.stores.visualizations.list_for_dataset(dataset.id, call.query)
    return VisualizationPage(items=[await view(call.ctx, c) for c in page.items],
                             total=page.total, limit=page.limit, offset=page.offset)


@router.get("/visualizations/{visualization_id}", response=VisualizationOut, errors=(404,))
async def get_visualization(call: Call[NoModel, NoModel]) -> VisualizationOut:
    """A chart: its spec, its job's status, and once made its Vega-Lite spec and images."""
    return await view(call.ctx, await member_chart(call.ctx, call))


@router.get("/visualizations/{visualization_id}/image/{format}", response_media="image/png",
            errors=(404,))
async def get_image(call: Call[NoModel, NoModel]) -> Response:
    """The chart as `png` or `svg` (a redirect to a presigned URL on S3)."""
    chart = await member_chart(call.ctx, call)
    kind = call.path["format"]
    key = {"png": chart.png_key, "svg": chart.svg_key}.get(kind)
    if key is None:
        raise NotFound("no such image (the chart is not made yet, or the format is not "
                       "png or svg)")
    return await object_response(call.ctx, key, MEDIA[kind])


@router.delete("/visualizations/{visualization_id}", status=204, errors=(404,))
async def delete_visualization(call: Call[NoModel, NoModel]) -> None:
    """Delete a chart and its images; a job still making it is cancelled."""
    chart = await member_chart(call.ctx, call)
    await drop_chart(call.ctx, chart)
    await publish(call.ctx, f"project:{chart.project_id}", "visualization.deleted",
                  {"visualization_id": chart.id, "dataset_id": chart.dataset_id,
                   "by": call.user.user_id})


async def drop_chart(ctx: AppContext, chart: VisualizationDoc) -> None:
    """Remove a chart: its job stopped (a queued one announced cancelled), its images and its
    document deleted."""
    ended = await remove_chart(ctx.stores, ctx.objects, chart)
    if ended is not None:
        await publish_job(ctx, ended, "job.cancelled")


async def drop_charts_of(ctx: AppContext, dataset_id: str) -> None:
    """Every chart of a dataset that is being deleted, with its job's cancellation announced
    (the dataset's cascade then finds none left)."""
    for chart in await ctx.stores.visualizations.all_for_dataset(dataset_id):
        await drop_chart(ctx, chart)
