"""Saved models: what a finished analysis keeps so that it can predict.

The fitted arrays live in object storage (`models/{id}/arrays.npz`, NumPy's own format read
without pickle, and `models/{id}/model.json`); this document says what the model is, which
columns it reads and what it predicts. A model takes the id of the analysis job that made it,
so a rerun of that job replaces it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING

from core.ids import utcnow
from core.models import Page, PageParams
from core.store.base import Repository

Task = Literal["clustering", "classification", "regression"]


def model_prefix(model_id: str) -> str:
    return f"models/{model_id}/"


class SavedModelDoc(BaseModel):
    id: str
    project_id: str
    job_id: str
    dataset_id: str
    algorithm: str
    task: Task
    features: list[str]  # the numeric columns a prediction needs, in this order
    target: str | None = None
    target_type: str | None = None  # a classifier's target column type (string, integer...)
    classes: list[str] | None = None  # a classifier's classes, as text
    clusters: int | None = None  # k-means: the number of clusters
    params: dict[str, Any] = {}
    metrics: dict[str, Any] = {}  # accuracy, r2, inertia...: the analysis' scores
    rows: int  # training rows
    labels_key: str | None = None  # k-means: each training row's cluster (CSV)
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def arrays_key(self) -> str:
        return model_prefix(self.id) + "arrays.npz"

    @property
    def meta_key(self) -> str:
        return model_prefix(self.id) + "model.json"


class SavedModelRepository(Repository[SavedModelDoc]):
    collection_name = "models"
    model = SavedModelDoc

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("project_id", ASCENDING), ("created_at", DESCENDING)])

    async def save(self, saved: SavedModelDoc) -> SavedModelDoc:
        """Insert or replace (a rerun of the analysis replaces its model)."""
        await self._c.replace_one({"_id": saved.id}, self._dump(saved), upsert=True)
        return saved

    async def get(self, model_id: str) -> SavedModelDoc | None:
        return await self._get(_id=model_id)

    async def delete(self, model_id: str) -> bool:
        result = await self._c.delete_one({"_id": model_id})
        return bool(result.deleted_count)

    async def list_for_project(self, project_id: str,
                               params: PageParams) -> Page[SavedModelDoc]:
        return await self._page(
            {"project_id": project_id}, params, [("created_at", DESCENDING), ("_id", ASCENDING)]
        )
