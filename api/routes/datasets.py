"""REST routes: datasets (schema, statistics, a preview of rows) and starting analyses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from starlette.responses import Response

from api.authz import require_member
from api.context import AppContext
from api.routes.datasets_rows import table_page
from api.routes.jobs_common import JobAccepted, job_location, start_job
from api.routing import Call, NoModel, Router, json_response
from core.errors import NotFound
from core.models import Page, PageParams
from core.store.datasets import DatasetDoc, DatasetView, analysis_columns
from core.store.jobs import AnalysisParams, JobDoc, JobKind

router = Router(tags=["datasets"])


class DatasetOut(DatasetView):
    pass


class DatasetPage(Page[DatasetOut]):
    pass


# A row offset beyond any dataset an upload can hold (one row takes at least two bytes).
MAX_ROW_OFFSET = 1_000_000_000


class RowsQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=MAX_ROW_OFFSET)


class RowsOut(BaseModel):
    columns: list[str]
    rows: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


async def member_dataset(ctx: AppContext, call: Call[Any, Any]) -> DatasetDoc:
    dataset = await ctx.stores.datasets.get(call.path["dataset_id"])
    if dataset is None:
        raise NotFound("dataset not found")
    await require_member(ctx, dataset.project_id, call.user, "dataset")
    return dataset


@router.get("/projects/{project_id}/datasets", query=PageParams, response=DatasetPage,
            errors=(404,))
async def list_datasets(call: Call[NoModel, PageParams]) -> DatasetPage:
    """The project's datasets, newest first."""
    project_id = call.path["project_id"]
    await require_member(call.ctx, project_id, call.user)
    page = await call.ctx.stores.datasets.list_for_project(project_id, call.query)
    return DatasetPage(items=[DatasetOut.of(d) for d in page.items], total=page.total,
                       limit=page.limit, offset=page.offset)


@router.get("/datasets/{dataset_id}", response=DatasetOut, errors=(404,))
async def get_dataset(call: Call[NoModel, NoModel]) -> DatasetOut:
    """A dataset's schema and per-column statistics."""
    return DatasetOut.of(await member_dataset(call.ctx, call))


@router.get("/datasets/{dataset_id}/rows", query=RowsQuery, response=RowsOut, errors=(404,))
async def preview_rows(call: Call[NoModel, RowsQuery]) -> RowsOut:
    """A page of the dataset's current rows (with the records members changed), as typed at
    ingestion."""
    dataset = await member_dataset(call.ctx, call)
    rows, total = await table_page(call.ctx.stores, call.ctx.objects, dataset,
                                   call.query.offset, call.query.limit)
    return RowsOut(columns=[c.name for c in dataset.columns], rows=[r.values for r in rows],
                   total=total,
                   limit=call.query.limit, offset=call.query.offset)


@router.post("/datasets/{dataset_id}/analyses", body=AnalysisParams, response=JobAccepted,
             status=202, errors=(404, 422, 503))
async def start_analysis(call: Call[AnalysisParams, NoModel]) -> Response:
    """Start k-means, or a tree or forest classifier or regressor, on the dataset's numeric
    columns (GET /ml/algorithms lists them with their parameters)."""
    dataset = await member_dataset(call.ctx, call)
    params = call.body
    features = analysis_columns(
        dataset, features=params.features, target=params.target,
        needs_target=params.algorithm != "kmeans",
        k=params.k if params.algorithm == "kmeans" else None,
        numeric_target=params.task == "regression",
    )
    stored = params.model_copy(update={"features": features}).stored()
    job = JobDoc(project_id=dataset.project_id, kind=JobKind.ANALYSIS,
                 created_by=call.user.user_id, dataset_id=dataset.id, params=stored,
                 max_attempts=call.ctx.settings.job_max_attempts)
    await start_job(call.ctx, job)
    body = JobAccepted(job_id=job.id, status=job.status, location=job_location(job.id))
    return json_response(body, 202, headers={"Location": job_location(job.id)})
