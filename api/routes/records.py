"""REST routes: a dataset as a table members edit together, one row at a time.

A row's version travels as its ETag (`"3"`); a change sends it back in `If-Match`, and a
version that is no longer the row's is answered `409 version_conflict` with the row as it is.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.context import AppContext
from api.routes.datasets import MAX_ROW_OFFSET, member_dataset
from api.routes.datasets_rows import current_row, table_page
from api.routes.projects import publish
from api.routing import Call, NoModel, Router, json_response
from core.errors import NotFound, RoomcastError
from core.store.datasets import DatasetDoc
from core.store.records import VersionConflict, check_values
from core.store.records_table import Row

router = Router(tags=["records"])

MAX_CELLS = 1000  # columns one request may set


class VersionRequired(RoomcastError):
    code = "version_required"
    http_status = 428
    default_message = "send the row's version in If-Match (its ETag)"


class RecordOut(BaseModel):
    dataset_id: str
    row: int = Field(description="the row's number: stable, unlike its position")
    version: int = Field(description="1 for an ingested row never changed; +1 per change")
    values: dict[str, Any]


class RecordPage(BaseModel):
    items: list[RecordOut]
    total: int
    limit: int
    offset: int
    dataset_version: int


class RecordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    values: dict[str, Any] = Field(max_length=MAX_CELLS,
                                   description="column name -> value of the column's type")


class RecordsQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=MAX_ROW_OFFSET)


def out(dataset: DatasetDoc, row: Row) -> RecordOut:
    return RecordOut(dataset_id=dataset.id, row=row.row, version=row.version, values=row.values)


def with_etag(record: RecordOut, status: int = 200) -> Response:
    return json_response(record, status, headers={"ETag": f'"{record.version}"'})


def row_number(call: Call[Any, Any]) -> int:
    text = call.path["row"]
    if not text.isdigit() or len(text) > 12:
        raise NotFound("record not found")
    return int(text)


def if_match(call: Call[Any, Any]) -> int:
    """The version named by If-Match: `"3"`, `W/"3"` or `3`."""
    header = call.request.headers.get("if-match", "").strip().removeprefix("W/").strip('"')
    if not header.isdigit() or len(header) > 12:
        raise VersionRequired()
    return int(header)


async def conflict(ctx: AppContext, dataset: DatasetDoc, row: int) -> VersionConflict:
    try:
        row_now = await current_row(ctx.stores, ctx.objects, dataset, row)
        current: dict[str, Any] | None = out(dataset, row_now).model_dump(mode="json")
    except NotFound:
        current = None  # deleted meanwhile
    return VersionConflict(details={"current": current})


async def announce(ctx: AppContext, dataset: DatasetDoc, event: str, record: RecordOut,
                   by: str, dataset_version: int) -> None:
    payload = {"dataset_id": dataset.id, "project_id": dataset.project_id, "row": record.row,
               "version": record.version, "dataset_version": dataset_version, "by": by}
    if event != "record.deleted":
        payload["values"] = record.model_dump(mode="json")["values"]
    await publish(ctx, f"project:{dataset.project_id}", event, payload)


@router.get("/datasets/{dataset_id}/records", query=RecordsQuery, response=RecordPage,
            errors=(404,))
async def list_records(call: Call[NoModel, RecordsQuery]) -> RecordPage:
    """A page of the current table, each row with its number and version."""
    dataset = await member_dataset(call.ctx, call)
    rows, total = await table_page(call.ctx.stores, call.ctx.objects, dataset,
                                   call.query.offset, call.query.limit)
    return RecordPage(items=[out(dataset, r) for r in rows], total=total,
                      limit=call.query.limit, offset=call.query.offset,
                      dataset_version=dataset.version)


@router.get("/datasets/{dataset_id}/records/{row}", response=RecordOut, errors=(404,))
async def get_record(call: Call[NoModel, NoModel]) -> Response:
    """One row, with its version as the ETag."""
    dataset = await member_dataset(call.ctx, call)
    return with_etag(out(dataset, await current_row(call.ctx.stores, call.ctx.objects, dataset,
                                                 row_number(call))))


@router.post("/datasets/{dataset_id}/records", body=RecordIn, response=RecordOut, status=201,
             errors=(404, 422))
async def add_record(call: Call[RecordIn, NoModel]) -> Response:
    """Add a row (columns left out are null); it follows the table's last row."""
    dataset = await member_dataset(call.ctx, call)
    values = check_values(dataset, call.body.values)
    bumped = await call.ctx.stores.datasets.bump(dataset.id, added=True)
    if bumped is None:
        raise NotFound("dataset not found")
    row = bumped.rows + bumped.rows_added - 1
    stored = await call.ctx.stores.records.add(dataset, row, values, call.user.user_id)
    record = out(dataset, Row(row, stored.version, values))
    await announce(call.ctx, dataset, "record.created", record, call.user.user_id,
                   bumped.version)
    return with_etag(record, 201)


@router.patch("/datasets/{dataset_id}/records/{row}", body=RecordIn, response=RecordOut,
              errors=(404, 409, 422, 428))
async def edit_record(call: Call[RecordIn, NoModel]) -> Response:
    """Change some of a row's values; If-Match names the version the change is made from."""
    return with_etag(await _change(call, call.body.values))


@router.delete("/datasets/{dataset_id}/records/{row}", status=204,
               errors=(404, 409, 428))
async def delete_record(call: Call[NoModel, NoModel]) -> None:
    """Delete a row; If-Match names the version being deleted."""
    await _change(call, None)


async def _change(call: Call[Any, NoModel], changes: dict[str, Any] | None) -> RecordOut:
    """Store an edit (or, with None, a deletion) made from the If-Match version, and publish
    it; VersionConflict when the row has another version by then."""
    dataset = await member_dataset(call.ctx, call)
    row, version = row_number(call), if_match(call)
    current = await current_row(call.ctx.stores, call.ctx.objects, dataset, row)
    if current.version != version:
        raise await conflict(call.ctx, dataset, row)
    values = None if changes is None else check_values(dataset, changes, base=current.values)
    stored = await call.ctx.stores.records.change(dataset, row, version, values,
                                                  call.user.user_id)
    if stored is None:
        raise await conflict(call.ctx, dataset, row)
    record = out(dataset, Row(row, stored.version, values or {}))
    event = "record.deleted" if values is None else "record.updated"
    await announce(call.ctx, dataset, event, record, call.user.user_id,
                   await _bump(call.ctx, dataset))
    return record


async def _bump(ctx: AppContext, dataset: DatasetDoc) -> int:
    bumped = await ctx.stores.datasets.bump(dataset.id)
    return bumped.version if bumped is not None else dataset.version
