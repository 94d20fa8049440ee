"""REST routes: saved models, their training labels, and predictions (rows or a dataset)."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError
from starlette.responses import Response

from api.authz import require_member
from api.context import AppContext
from api.routes.datasets import member_dataset
from api.routes.jobs_common import JobAccepted, job_location, start_job
from api.routes.uploads import object_response
from api.routing import Call, NoModel, Router, json_response
from core.errors import NotFound, ValidationFailed
from core.imports import imported
from core.models import Page, PageParams
from core.store.datasets import NUMERIC_TYPES, DatasetDoc
from core.store.jobs import JobDoc, JobKind
from core.store.models_saved import SavedModelDoc, Task

if TYPE_CHECKING:
    import numpy as np

    from core.store.models_fitted import FittedModel

router = Router(tags=["models"])

MAX_PREDICT_ROWS = 1000  # rows answered at once; more: predict a dataset (a job)
MAX_REPORTED_PROBLEMS = 20


class ModelOut(BaseModel):
    id: str
    project_id: str
    job_id: str
    dataset_id: str
    algorithm: str
    task: Task
    features: list[str]
    target: str | None
    classes: list[str] | None
    clusters: int | None
    params: dict[str, Any]
    metrics: dict[str, Any]
    rows: int
    has_labels: bool
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, saved: SavedModelDoc) -> ModelOut:
        return cls.model_validate({**saved.model_dump(), "has_labels": bool(saved.labels_key)})


class ModelPage(Page[ModelOut]):
    pass


class PredictBody(BaseModel):
    """Rows to predict at once, or a dataset to predict as a job: exactly one of them."""

    model_config = {"extra": "forbid"}

    rows: list[dict[str, Any]] | None = Field(
        default=None, min_length=1, max_length=MAX_PREDICT_ROWS,
        description="objects mapping each of the model's features to a number")
    dataset_id: str | None = Field(default=None, description="a dataset of the model's project")

    @model_validator(mode="after")
    def _one(self) -> PredictBody:
        if (self.rows is None) == (self.dataset_id is None):
            raise PydanticCustomError("rows_or_dataset", "send either rows or dataset_id")
        return self


class PredictionsOut(BaseModel):
    model_id: str
    task: Task
    predictions: list[Any]  # class names, cluster numbers or values, one per row
    probabilities: list[dict[str, float]] | None  # classifiers: each class' share per row


async def member_model(ctx: AppContext, call: Call[Any, Any]) -> SavedModelDoc:
    saved = await ctx.stores.models.get(call.path["model_id"])
    if saved is None:
        raise NotFound("model not found")
    await require_member(ctx, saved.project_id, call.user, "model")
    return saved


@router.get("/projects/{project_id}/models", query=PageParams, response=ModelPage,
            errors=(404,))
async def list_models(call: Call[NoModel, PageParams]) -> ModelPage:
    """The project's saved models, newest first."""
    project_id = call.path["project_id"]
    await require_member(call.ctx, project_id, call.user)
    page = await call.ctx.stores.models.list_for_project(project_id, call.query)
    return ModelPage(items=[ModelOut.of(m) for m in page.items], total=page.total,
                     limit=page.limit, offset=page.offset)


@router.get("/models/{model_id}", response=ModelOut, errors=(404,))
async def get_model(call: Call[NoModel, NoModel]) -> ModelOut:
    """A saved model: what it reads, what it predicts, how well it scored."""
    return ModelOut.of(await member_model(call.ctx, call))


@router.delete("/models/{model_id}", status=204, errors=(404,))
async def delete_model(call: Call[NoModel, NoModel]) -> None:
    """Delete a saved model and its files (datasets it predicted stay)."""
    saved = await member_model(call.ctx, call)
    await call.ctx.stores.models.delete(saved.id)
    call.ctx.model_cache().drop(saved.id)
    for key in (saved.arrays_key, saved.meta_key, saved.labels_key):
        if key:
            await call.ctx.objects.delete(key)


@router.get("/models/{model_id}/labels", response_media="text/csv", errors=(404,))
async def get_labels(call: Call[NoModel, NoModel]) -> Response:
    """A k-means model's cluster of each training row: CSV `row,cluster` (a redirect to a
    presigned URL on S3)."""
    saved = await member_model(call.ctx, call)
    if not saved.labels_key:
        raise NotFound("only k-means models have row labels")
    return await object_response(call.ctx, saved.labels_key, "text/csv",
                                 f"{saved.id}-labels.csv")


@router.post("/models/{model_id}/predict", body=PredictBody, response=PredictionsOut,
             errors=(404, 422, 503))
async def predict(call: Call[PredictBody, NoModel]) -> Response:
    """Predict rows at once (200), or a whole dataset as a job whose predictions become a new
    dataset (202 with the job)."""
    saved = await member_model(call.ctx, call)
    if call.body.dataset_id is not None:
        return await _predict_dataset(call, saved)
    assert call.body.rows is not None
    await imported("numpy")  # with the first prediction, not at the server's start-up
    x = feature_rows(call.body.rows, saved.features)
    fitted = await call.ctx.model_cache().get(call.ctx.objects, saved)
    return json_response(await asyncio.to_thread(_predictions, fitted, saved, x))


def feature_rows(rows: list[dict[str, Any]], features: list[str]) -> np.ndarray[Any, Any]:
    """The rows as a (rows, features) matrix; ValidationFailed naming each bad cell."""
    import numpy as np  # imported by the first prediction, not at the server's start-up

    x = np.empty((len(rows), len(features)))
    problems: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        for j, name in enumerate(features):
            value = row.get(name)
            kind = _problem(name in row, value)
            if kind is None:
                x[i, j] = value
            elif len(problems) < MAX_REPORTED_PROBLEMS:
                problems.append({"loc": ["body", "rows", i, name], "type": kind[0],
                                 "message": kind[1]})
    if problems:
        raise ValidationFailed("the rows do not fit the model", details=problems)
    return x


def _problem(present: bool, value: Any) -> tuple[str, str] | None:
    if not present:
        return "missing_feature", "the model needs this feature"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "not_a_number", "a feature's value must be a number"
    if not math.isfinite(value) or abs(value) > 1e300:
        return "not_finite", "a feature's value must be a finite number"
    return None


def _predictions(fitted: FittedModel, saved: SavedModelDoc,
                 x: np.ndarray[Any, Any]) -> PredictionsOut:
    result = fitted.predict(x)
    probabilities = None
    if saved.task == "classification":
        assert fitted.classes is not None and result.shares is not None
        predictions: list[Any] = [fitted.classes[i] for i in result.labels.tolist()]
        probabilities = [dict(zip(fitted.classes, shares, strict=True))
                         for shares in result.shares.tolist()]
    else:
        predictions = result.labels.tolist()
    return PredictionsOut(model_id=saved.id, task=saved.task, predictions=predictions,
                          probabilities=probabilities)


async def _predict_dataset(call: Call[PredictBody, NoModel], saved: SavedModelDoc) -> Response:
    call.path["dataset_id"] = call.body.dataset_id or ""
    dataset = await member_dataset(call.ctx, call)
    _check_dataset(dataset, saved)
    job = JobDoc(project_id=saved.project_id, kind=JobKind.PREDICTION,
                 created_by=call.user.user_id, dataset_id=dataset.id,
                 params={"model_id": saved.id}, max_attempts=call.ctx.settings.job_max_attempts)
    await start_job(call.ctx, job)
    body = JobAccepted(job_id=job.id, status=job.status, location=job_location(job.id))
    return json_response(body, 202, headers={"Location": job_location(job.id)})


def _check_dataset(dataset: DatasetDoc, saved: SavedModelDoc) -> None:
    problems: list[dict[str, Any]] = []
    if dataset.project_id != saved.project_id:
        problems.append({"loc": ["body", "dataset_id"], "type": "other_project",
                         "message": "the dataset belongs to another project than the model"})
    for name in saved.features:
        column = dataset.column(name)
        if column is None or column.type not in NUMERIC_TYPES:
            problems.append({"loc": ["body", "dataset_id"], "type": "missing_feature",
                             "message": f"the dataset has no numeric column {name!r}"})
    if problems:
        raise ValidationFailed("the dataset does not fit the model", details=problems)
