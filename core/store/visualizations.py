"""Visualizations: a chart spec checked against a dataset's columns, and the stored result a
job made of it (PNG, SVG, and a small Vega-Lite spec with the data aggregated server-side).

A chart is kept per dataset version: the same spec asked again of the same version is answered
from what is stored, without another job.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field
from pymongo import ASCENDING, DESCENDING

from core.errors import ValidationFailed
from core.ids import new_id, utcnow
from core.models import Page, PageParams
from core.store.base import Repository
from core.store.datasets import NUMERIC_TYPES, ColumnSchema, DatasetDoc

ChartKind = Literal["histogram", "bar", "line", "scatter", "box", "heatmap"]
Aggregation = Literal["count", "sum", "mean", "median", "min", "max"]
MAX_HEATMAP_COLUMNS = 30


class InvalidChart(ValidationFailed):
    """A spec that does not fit the dataset; `details` names each field and why."""

    code = "invalid_chart"
    default_message = "the chart does not fit this dataset"


class ChartSpec(BaseModel):
    """What `POST /datasets/{id}/visualizations` accepts."""

    model_config = ConfigDict(extra="forbid")

    kind: ChartKind = Field(description="histogram, bar, line, scatter, box or heatmap "
                            "(a correlation heatmap)")
    x: str | None = Field(default=None, max_length=200, description="the column along x")
    y: str | None = Field(default=None, max_length=200, description="the column along y")
    group_by: str | None = Field(default=None, max_length=200,
                                 description="a column whose values split the data in series")
    bins: int = Field(default=20, ge=2, le=200,
                      description="histogram bins; line charts: x buckets")
    aggregation: Aggregation = Field(default="count",
                                     description="bar and line: what each bar or point shows")
    columns: list[str] | None = Field(default=None, min_length=2,
                                      max_length=MAX_HEATMAP_COLUMNS,
                                      description="heatmap: the numeric columns to correlate "
                                      "(default: every numeric one, at most 30)")
    title: str | None = Field(default=None, max_length=200)


def spec_hash(spec: ChartSpec) -> str:
    canonical = orjson.dumps(spec.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


class _Check:
    def __init__(self, dataset: DatasetDoc, kind: str) -> None:
        self.dataset, self.kind = dataset, kind
        self.problems: list[dict[str, Any]] = []

    def problem(self, field: str, kind: str, message: str) -> None:
        self.problems.append({"loc": ["body", field], "type": kind, "message": message})

    def column(self, field: str, name: str | None, *, needed: bool,
               numeric: bool = False, ordered: bool = False) -> ColumnSchema | None:
        if name is None:
            if needed:
                self.problem(field, "missing_field", f"a {self.kind} chart needs {field}")
            return None
        column = self.dataset.column(name)
        if column is None:
            self.problem(field, "unknown_column", f"the dataset has no column {name!r}")
        elif numeric and column.type not in NUMERIC_TYPES:
            self.problem(field, "wrong_type", f"{name!r} is {column.type}, not numeric")
        elif ordered and column.type not in (*NUMERIC_TYPES, "datetime"):
            self.problem(field, "wrong_type",
                         f"{name!r} is {column.type}, not numeric or a date and time")
        return column


def check_spec(dataset: DatasetDoc, spec: ChartSpec) -> ChartSpec:
    """The spec with its defaults filled in, or InvalidChart naming each problem."""
    kind = spec.kind
    check = _Check(dataset, kind)
    if kind == "heatmap":
        spec = _heatmap(check, spec)
    elif kind == "histogram":
        check.column("x", spec.x, needed=True, numeric=True)
    elif kind == "scatter":
        check.column("x", spec.x, needed=True, numeric=True)
        check.column("y", spec.y, needed=True, numeric=True)
    elif kind == "line":
        check.column("x", spec.x, needed=True, ordered=True)
        check.column("y", spec.y, needed=spec.aggregation != "count", numeric=True)
    elif kind == "bar":
        check.column("x", spec.x, needed=True)
        check.column("y", spec.y, needed=spec.aggregation != "count", numeric=True)
    else:  # box
        check.column("y", spec.y, needed=True, numeric=True)
        check.column("x", spec.x, needed=False)
    if kind != "heatmap":
        check.column("group_by", spec.group_by, needed=False)
    if check.problems:
        raise InvalidChart(details=check.problems)
    return spec


def _heatmap(check: _Check, spec: ChartSpec) -> ChartSpec:
    numeric = [c.name for c in check.dataset.columns if c.type in NUMERIC_TYPES]
    names = spec.columns or numeric[:MAX_HEATMAP_COLUMNS]
    for name in names:
        check.column("columns", name, needed=True, numeric=True)
    if len(set(names)) < 2:
        check.problem("columns", "missing_field", "a heatmap needs two numeric columns")
    return spec.model_copy(update={"columns": names})


class VisualizationDoc(BaseModel):
    id: str = Field(default_factory=new_id)
    project_id: str
    dataset_id: str
    dataset_version: int
    spec: ChartSpec
    spec_hash: str
    job_id: str
    ready: bool = False
    vega: dict[str, Any] | None = None  # the Vega-Lite spec, data inline (bounded)
    png_key: str | None = None
    svg_key: str | None = None
    points: int | None = None  # data values in the Vega-Lite spec
    rows: int | None = None  # table rows the chart summarizes
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class VisualizationRepository(Repository[VisualizationDoc]):
    collection_name = "visualizations"
    model = VisualizationDoc

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("dataset_id", ASCENDING), ("created_at", DESCENDING)])
        await self._c.create_index([("dataset_id", ASCENDING), ("spec_hash", ASCENDING),
                                    ("dataset_version", ASCENDING)])

    async def create(self, doc: VisualizationDoc) -> VisualizationDoc:
        await self._c.insert_one(self._dump(doc))
        return doc

    async def get(self, visualization_id: str) -> VisualizationDoc | None:
        return await self._get(_id=visualization_id)

    async def same(self, dataset_id: str, version: int, digest: str) -> list[VisualizationDoc]:
        """Charts of this spec on this dataset version, newest first."""
        cursor = self._c.find({"dataset_id": dataset_id, "dataset_version": version,
                               "spec_hash": digest}).sort("created_at", DESCENDING)
        return [self._load(doc) async for doc in cursor]

    async def finish(self, visualization_id: str, **fields: Any) -> bool:
        """Store the made chart; False when the visualization was deleted meanwhile."""
        result = await self._c.update_one(
            {"_id": visualization_id},
            {"$set": {**fields, "ready": True, "finished_at": utcnow()}})
        return bool(result.matched_count)

    async def delete(self, visualization_id: str) -> bool:
        result = await self._c.delete_one({"_id": visualization_id})
        return bool(result.deleted_count)

    async def list_for_dataset(self, dataset_id: str,
                               params: PageParams) -> Page[VisualizationDoc]:
        return await self._page({"dataset_id": dataset_id}, params,
                                [("created_at", DESCENDING), ("_id", ASCENDING)])

    async def all_for_dataset(self, dataset_id: str) -> list[VisualizationDoc]:
        cursor = self._c.find({"dataset_id": dataset_id})
        return [self._load(doc) async for doc in cursor]
