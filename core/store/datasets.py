"""Datasets: schema and statistics; the rows live in object storage as Parquet."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from core.errors import ValidationFailed
from core.ids import utcnow
from core.models import Page, PageParams
from core.store.base import Repository


class ColumnStats(BaseModel):
    count: int
    nulls: int
    distinct: int
    min: Any = None
    max: Any = None
    mean: float | None = None
    std: float | None = None
    histogram: dict[str, list[float]] | None = None  # {"edges": [...], "counts": [...]}
    top: list[dict[str, Any]] | None = None  # most frequent values of a categorical column


class ColumnSchema(BaseModel):
    name: str
    type: str  # integer | float | boolean | datetime | string
    categorical: bool = False
    stats: ColumnStats


class DatasetView(BaseModel):
    """A dataset as clients see it: `GET /datasets/{id}` and the `dataset.created` event."""

    id: str
    project_id: str
    upload_id: str
    job_id: str
    name: str
    format: str
    rows: int
    columns: list[ColumnSchema]
    created_by: str
    created_at: datetime
    # Record changes (core/store/records.py): the table's version, one more with each change
    # (charts of one version are kept).
    version: int = Field(default=1, description="1 as ingested, one more with each change of "
                         "its records (`rows` stays the ingested count)")

    @classmethod
    def of(cls, dataset: DatasetDoc) -> Self:
        return cls.model_validate(dataset.model_dump(exclude={"object_key", "rows_added"}))


class DatasetDoc(DatasetView):
    object_key: str
    created_at: datetime = Field(default_factory=utcnow)
    rows_added: int = 0  # how many rows members have added (core/store/records.py)

    def column(self, name: str) -> ColumnSchema | None:
        return next((c for c in self.columns if c.name == name), None)


class DatasetRepository(Repository[DatasetDoc]):
    collection_name = "datasets"
    model = DatasetDoc

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("project_id", ASCENDING), ("created_at", DESCENDING)])

    async def save(self, dataset: DatasetDoc) -> DatasetDoc:
        """Insert or replace: the id derives from the job, so a rerun replaces, never adds."""
        await self._c.replace_one({"_id": dataset.id}, self._dump(dataset), upsert=True)
        return dataset

    async def get(self, dataset_id: str) -> DatasetDoc | None:
        return await self._get(_id=dataset_id)

    async def delete(self, dataset_id: str) -> bool:
        result = await self._c.delete_one({"_id": dataset_id})
        return bool(result.deleted_count)

    async def bump(self, dataset_id: str, *, added: bool = False) -> DatasetDoc | None:
        """Count one change of the table (and one added row); the dataset as it is now."""
        doc = await self._c.find_one_and_update(
            {"_id": dataset_id}, {"$inc": {"version": 1, "rows_added": int(added)}},
            return_document=ReturnDocument.AFTER)
        return None if doc is None else self._load(doc)

    async def list_for_project(self, project_id: str, params: PageParams) -> Page[DatasetDoc]:
        return await self._page(
            {"project_id": project_id}, params, [("created_at", DESCENDING), ("_id", ASCENDING)]
        )


NUMERIC_TYPES = ("integer", "float")


def analysis_columns(
    dataset: DatasetDoc, *, features: list[str] | None, target: str | None,
    needs_target: bool, k: int | None = None, numeric_target: bool = False,
) -> list[str]:
    """The feature columns an analysis will use, or ValidationFailed saying what does not fit.

    A classifier's target must be categorical, a regressor's (`numeric_target`) numeric."""
    problems: list[dict[str, Any]] = []
    if needs_target:
        column = dataset.column(target) if target else None
        if column is None:
            problems.append({"loc": ["body", "target"], "message": "no such column"})
        elif numeric_target and column.type not in NUMERIC_TYPES:
            problems.append({"loc": ["body", "target"],
                             "message": "the target column is not numeric"})
        elif not numeric_target and not column.categorical:
            problems.append({"loc": ["body", "target"],
                             "message": "the target column is not categorical"})
    chosen = features or [c.name for c in dataset.columns
                          if c.type in NUMERIC_TYPES and c.name != target]
    for name in chosen:
        column = dataset.column(name)
        if column is None or column.type not in NUMERIC_TYPES:
            problems.append({"loc": ["body", "features"], "message": f"{name!r} is not a "
                             "numeric column"})
    if not chosen:
        problems.append({"loc": ["body", "features"], "message": "no numeric column to use"})
    if k is not None and k > dataset.rows:
        problems.append({"loc": ["body", "k"], "message": f"k exceeds the {dataset.rows} rows"})
    if problems:
        raise ValidationFailed("the analysis does not fit this dataset", details=problems)
    return chosen
