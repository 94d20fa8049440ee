"""REST route: the current table (Parquet rows merged with the records) as CSV, XLSX or
Parquet, streamed one row group at a time."""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel
from starlette.responses import Response, StreamingResponse

from api.routes.datasets import member_dataset
from api.routes.datasets_rows import overlay_of
from api.routing import Call, NoModel, Router
from core.errors import ValidationFailed
from core.imports import imported
from core.objects_file import RangeFile
from core.store.records_table import current_batches

if TYPE_CHECKING:
    import pyarrow as pa

router = Router(tags=["records"])

XLSX_MAX_ROWS = 1_048_575  # a worksheet's rows, less the header
MEDIA = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
CHUNK = 256 * 1024


class ExportQuery(BaseModel):
    format: Literal["csv", "xlsx", "parquet"] = "csv"


class TooManyRows(ValidationFailed):
    code = "too_many_rows"


class Drain(io.RawIOBase):
    """A write-only file whose bytes are taken out after each table written to it."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._written += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._written

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


@router.get("/datasets/{dataset_id}/export", query=ExportQuery, errors=(404, 422),
            response_media="application/octet-stream")
async def export_table(call: Call[NoModel, ExportQuery]) -> Response:
    """The current table as CSV, XLSX or Parquet (`format`), streamed."""
    dataset = await member_dataset(call.ctx, call)
    overlay = await overlay_of(call.ctx.stores, dataset)
    kind = call.query.format
    if kind == "xlsx" and overlay.total > XLSX_MAX_ROWS:
        raise TooManyRows(f"a worksheet holds at most {XLSX_MAX_ROWS} rows; export CSV or "
                          "Parquet", details={"rows": overlay.total})
    size = await call.ctx.objects.size(dataset.object_key)
    source = RangeFile(call.ctx.objects, dataset.object_key, size, asyncio.get_running_loop())
    # Imported by the first export, not at the server's start-up.
    await imported("pyarrow.parquet", "pyarrow.csv")
    import pyarrow.parquet as pq

    parquet = await asyncio.to_thread(pq.ParquetFile, source)
    batches = current_batches(parquet, overlay)
    schema = parquet.schema_arrow
    body = (_xlsx(batches, schema.names) if kind == "xlsx"
            else _encoded(batches, schema, kind))
    name = f"{dataset.name.rsplit('.', 1)[0] or dataset.id}.{kind}"
    safe = name.replace('"', "").encode("ascii", "replace").decode()
    return StreamingResponse(body, media_type=MEDIA[kind],
                             headers={"Content-Disposition": f'attachment; filename="{safe}"'})


async def _encoded(batches: Iterator[pa.Table], schema: pa.Schema,
                   kind: str) -> AsyncIterator[bytes]:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    sink = Drain()
    writer: Any = (pacsv.CSVWriter(sink, schema) if kind == "csv"
                   else pq.ParquetWriter(sink, schema))
    while (table := await asyncio.to_thread(next, batches, None)) is not None:
        await asyncio.to_thread(writer.write_table, table)
        if data := sink.take():
            yield data
    await asyncio.to_thread(writer.close)
    if data := sink.take():
        yield data


async def _xlsx(batches: Iterator[pa.Table], names: list[str]) -> AsyncIterator[bytes]:
    # A workbook is a zip whose directory comes last: written to a temporary file (openpyxl's
    # write-only mode keeps rows out of memory), then streamed from it.
    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    try:
        await asyncio.to_thread(_write_xlsx, batches, names, path)
        with open(path, "rb") as file:  # noqa: ASYNC230 - each read is one chunk
            while chunk := await asyncio.to_thread(file.read, CHUNK):
                yield chunk
    finally:
        os.unlink(path)


def _write_xlsx(batches: Iterator[pa.Table], names: list[str], path: str) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("data")
    sheet.append(names)
    for table in batches:
        for row in table.to_pylist():
            sheet.append(list(row.values()))
    book.save(path)
