"""A page of a dataset's current rows: its Parquet object, read one row group at a time,
merged with the records members changed (core/store/records_table.py).

Only the footer and the row groups that hold the page are fetched (ranged reads on S3, seeks
locally), so paging through a large dataset costs a page, not the whole file.
"""

from __future__ import annotations

import asyncio
from typing import Any

from core.errors import NotFound
from core.objects import ObjectStorage
from core.objects_file import RangeFile
from core.store.datasets import DatasetDoc
from core.store.records_table import Overlay, Row, merge_page
from core.store.stores import Stores


async def read_page(objects: ObjectStorage, key: str, offset: int,
                    limit: int) -> list[dict[str, Any]]:
    size = await objects.size(key)  # NotFound when the rows are gone
    source = RangeFile(objects, key, size, asyncio.get_running_loop())
    return await asyncio.to_thread(_page, source, offset, limit)


def _page(source: RangeFile, offset: int, limit: int) -> list[dict[str, Any]]:
    # pyarrow comes with the first page read, not with the server's start-up.
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(source)
    groups: list[int] = []
    first_row = None  # the dataset's row index where the first group read begins
    start = 0
    for index in range(parquet.metadata.num_row_groups):
        rows = parquet.metadata.row_group(index).num_rows
        if start < offset + limit and start + rows > offset:
            first_row = start if first_row is None else first_row
            groups.append(index)
        start += rows
    if first_row is None:
        return []
    table = parquet.read_row_groups(groups)
    page: list[dict[str, Any]] = table.slice(offset - first_row, limit).to_pylist()
    return page


async def overlay_of(stores: Stores, dataset: DatasetDoc) -> Overlay:
    return Overlay.of(dataset.rows, await stores.records.for_dataset(dataset.id))


async def table_page(stores: Stores, objects: ObjectStorage, dataset: DatasetDoc, offset: int,
                     limit: int) -> tuple[list[Row], int]:
    """A page of the current table (Parquet rows merged with the records), and its total.
    Of the records it reads the deleted rows' numbers, the edited rows among those of the
    page, and the page's added rows."""
    records = stores.records
    overlay = Overlay(dataset.rows, deleted=await records.deleted_rows(dataset.id))
    start, stop = overlay.base_window(offset, limit)
    rows: list[Row] = []
    if stop > start:
        overlay.edited = {r.row: r for r in await records.edited_between(dataset.id, start,
                                                                          stop)}
        base = await read_page(objects, dataset.object_key, start, stop - start)
        rows = merge_page(overlay, start, base, limit)
    if len(rows) < limit:
        skip = max(0, offset - overlay.live_base)
        rows += [Row(r.row, r.version, r.values or {})
                 for r in await records.added_page(dataset.id, skip, limit - len(rows))]
    return rows, overlay.live_base + await records.count_added(dataset.id)


async def current_row(stores: Stores, objects: ObjectStorage, dataset: DatasetDoc,
                      row: int) -> Row:
    record = await stores.records.get(dataset.id, row)
    if record is not None and record.values is not None:
        return Row(row, record.version, record.values)
    if record is None and 0 <= row < dataset.rows:
        values = await read_page(objects, dataset.object_key, row, 1)
        if values:
            return Row(row, 1, values[0])
    raise NotFound("record not found")
