"""Records: the rows of a dataset that members have added, edited or deleted.

A dataset's Parquet object stays as ingestion wrote it. Each changed row is one document here
(an overlay): an edited ingested row holds its new values, a deleted one is a tombstone, an
added row is numbered after the ingested ones. Reads merge the Parquet rows with these
documents (core/store/records_table.py). Every row has a version: 1 for an ingested row never
changed, and one more with each change; a change names the version it replaces and is a
conditional write, so of two edits made from the same version exactly one is stored.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from pymongo import ASCENDING, ReturnDocument

from core.errors import Conflict, DuplicateKey, ValidationFailed
from core.ids import utcnow
from core.store.base import Repository
from core.store.datasets import DatasetDoc

MAX_TEXT = 10_000  # characters in one string cell
INT64 = (-(2**63), 2**63 - 1)
KINDS = ("integer", "float", "boolean", "datetime", "string")  # column types a row may set


class InvalidRecord(ValidationFailed):
    """A record that does not fit the dataset's columns; `details` lists each problem."""

    code = "invalid_record"
    default_message = "the record does not match the dataset's columns"


class VersionConflict(Conflict):
    """The change names a version the row no longer has; `details.current` is the row now."""

    code = "version_conflict"
    default_message = "the row changed since that version"


class RecordDoc(BaseModel):
    id: str  # "{dataset_id}:{row}"
    dataset_id: str
    project_id: str
    row: int
    values: dict[str, Any] | None  # None once deleted
    deleted: bool = False
    added: bool = False  # a row members added (numbered after the ingested rows)
    version: int
    updated_by: str
    updated_at: datetime = Field(default_factory=utcnow)


def record_id(dataset_id: str, row: int) -> str:
    return f"{dataset_id}:{row}"


class RecordRepository(Repository[RecordDoc]):
    collection_name = "records"
    model = RecordDoc

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("dataset_id", ASCENDING), ("row", ASCENDING)])

    async def get(self, dataset_id: str, row: int) -> RecordDoc | None:
        return await self._get(_id=record_id(dataset_id, row))

    async def add(self, dataset: DatasetDoc, row: int, values: dict[str, Any],
                  by: str) -> RecordDoc:
        doc = RecordDoc(id=record_id(dataset.id, row), dataset_id=dataset.id,
                        project_id=dataset.project_id, row=row, values=values, added=True,
                        version=1, updated_by=by)
        await self._c.insert_one(self._dump(doc))
        return doc

    async def change(self, dataset: DatasetDoc, row: int, version: int,
                     values: dict[str, Any] | None, by: str) -> RecordDoc | None:
        """Store the row's new values (None: delete it) if it is still at `version`; None when
        another change came first."""
        fields = {"values": values, "deleted": values is None, "updated_by": by,
                  "updated_at": utcnow()}
        doc = await self._c.find_one_and_update(
            {"_id": record_id(dataset.id, row), "version": version, "deleted": False},
            {"$set": fields, "$inc": {"version": 1}}, return_document=ReturnDocument.AFTER)
        if doc is not None:
            return self._load(doc)
        if version != 1 or row >= dataset.rows:
            return None
        # An ingested row's first change: its document does not exist yet. Inserting it is
        # the conditional write (of two first changes, the second finds the id taken).
        first = RecordDoc(id=record_id(dataset.id, row), dataset_id=dataset.id,
                          project_id=dataset.project_id, row=row, version=2, **fields)
        try:
            await self._c.insert_one(self._dump(first))
        except DuplicateKey:
            return None
        return first

    async def for_dataset(self, dataset_id: str) -> list[RecordDoc]:
        """Every changed row of the dataset, in row order."""
        cursor = self._c.find({"dataset_id": dataset_id}).sort("row", ASCENDING)
        return [self._load(doc) async for doc in cursor]

    async def deleted_rows(self, dataset_id: str) -> list[int]:
        """The ingested rows deleted, in order (numbers only: a page needs no more of them)."""
        cursor = self._c.find({"dataset_id": dataset_id, "deleted": True, "added": False},
                              {"row": 1}).sort("row", ASCENDING)
        return [int(doc["row"]) async for doc in cursor]

    async def edited_between(self, dataset_id: str, start: int, stop: int) -> list[RecordDoc]:
        """The edited ingested rows numbered from start up to (not including) stop."""
        cursor = self._c.find({"dataset_id": dataset_id, "added": False, "deleted": False,
                               "row": {"$gte": start, "$lt": stop}})
        return [self._load(doc) async for doc in cursor]

    async def added_page(self, dataset_id: str, skip: int, limit: int) -> list[RecordDoc]:
        """Added rows still there, in the order they were added."""
        cursor = self._c.find({"dataset_id": dataset_id, "added": True, "deleted": False}) \
            .sort("row", ASCENDING).skip(skip).limit(limit)
        return [self._load(doc) async for doc in cursor]

    async def count_added(self, dataset_id: str) -> int:
        return int(await self._c.count_documents(
            {"dataset_id": dataset_id, "added": True, "deleted": False}))

    async def delete_for_dataset(self, dataset_id: str) -> int:
        result = await self._c.delete_many({"dataset_id": dataset_id})
        return int(result.deleted_count)


def check_values(dataset: DatasetDoc, values: dict[str, Any],
                 base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full row: `values` over `base` (a new row: every other column null), each value
    checked against its column's type; InvalidRecord listing every problem."""
    problems: list[dict[str, Any]] = []
    row = {c.name: None for c in dataset.columns} if base is None else dict(base)
    types = {c.name: c.type for c in dataset.columns}
    for name, value in values.items():
        if name not in types:
            problems.append({"loc": ["body", "values", name], "type": "unknown_column",
                             "message": "the dataset has no such column"})
            continue
        if types[name] not in KINDS:
            problems.append({"loc": ["body", "values", name], "type": "unsupported_column",
                             "message": f"cells of {types[name]} columns cannot be edited"})
            continue
        try:
            row[name] = _typed(types[name], value)
        except ValueError as exc:
            problems.append({"loc": ["body", "values", name], "type": "type_mismatch",
                             "message": str(exc)})
    if problems:
        raise InvalidRecord(details=problems)
    return row


def _typed(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("expected an integer")
        if not INT64[0] <= value <= INT64[1]:
            raise ValueError("the integer does not fit in 64 bits")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("expected a number")
        if not math.isfinite(value) or abs(value) > 1.7e308:
            raise ValueError("expected a finite number")
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value
    if not isinstance(value, str):
        raise ValueError("expected a string" if kind != "datetime" else
                         "expected an ISO 8601 date and time (text)")
    if kind == "datetime":
        return _moment(value)
    if len(value) > MAX_TEXT:
        raise ValueError(f"longer than {MAX_TEXT} characters")
    return value


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError("expected an ISO 8601 date and time") from exc
    # Stored as ingestion stores it: UTC, without a zone.
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment
