"""A dataset's current table: its Parquet rows merged with the records members changed.

The rows keep their order: an edited row stays where it was, a deleted one is left out, added
rows follow the ingested ones in the order they were added. A row's number (`row`) never
changes; its position (what `offset` counts) moves when rows before it are deleted.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.store.records import RecordDoc

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq


@dataclass
class Overlay:
    """The changed rows of one dataset, split by what they do to its Parquet rows."""

    base_rows: int
    edited: dict[int, RecordDoc] = field(default_factory=dict)  # ingested rows, new values
    deleted: list[int] = field(default_factory=list)  # ingested rows gone, sorted
    added: list[RecordDoc] = field(default_factory=list)  # live added rows, by row

    @classmethod
    def of(cls, base_rows: int, records: Sequence[RecordDoc]) -> Overlay:
        overlay = cls(base_rows)
        for record in records:
            if record.added:
                if not record.deleted:
                    overlay.added.append(record)
            elif record.deleted:
                overlay.deleted.append(record.row)
            else:
                overlay.edited[record.row] = record
        overlay.deleted.sort()
        overlay.added.sort(key=lambda r: r.row)
        return overlay

    @property
    def live_base(self) -> int:
        return self.base_rows - len(self.deleted)

    @property
    def total(self) -> int:
        return self.live_base + len(self.added)

    def physical(self, position: int) -> int:
        """The Parquet row at `position` among the live ingested rows."""
        row = position
        while True:
            moved = position + bisect_right(self.deleted, row)
            if moved == row:
                return row
            row = moved

    def deleted_between(self, start: int, stop: int) -> int:
        return bisect_left(self.deleted, stop) - bisect_left(self.deleted, start)

    def base_window(self, offset: int, limit: int) -> tuple[int, int]:
        """The Parquet rows [start, stop) that hold the live ingested rows of a page."""
        if offset >= self.live_base:
            return self.base_rows, self.base_rows
        start = self.physical(offset)
        stop = min(self.base_rows, start + limit)
        while stop < self.base_rows and stop - start - self.deleted_between(start, stop) < limit:
            stop = min(self.base_rows, start + limit + self.deleted_between(start, stop))
        return start, stop


@dataclass
class Row:
    row: int
    version: int
    values: dict[str, Any]


def merge_page(overlay: Overlay, start: int, base: list[dict[str, Any]],
               limit: int) -> list[Row]:
    """The live ingested rows of a page, from the Parquet rows read from `start` on (the
    overlay needs only the deleted rows and the edited ones among those read)."""
    rows: list[Row] = []
    deleted = set(overlay.deleted)
    for index, values in enumerate(base, start=start):
        if index in deleted:
            continue
        record = overlay.edited.get(index)
        rows.append(Row(index, 1, values) if record is None or record.values is None
                    else Row(index, record.version, record.values))
    return rows[:limit]


def changes_table(records: Sequence[RecordDoc], schema: pa.Schema) -> pa.Table:
    """Records' values as a table of the dataset's Parquet schema."""
    import pyarrow as pa  # imported by the first use, not at the server's start-up

    return pa.Table.from_pylist([r.values or {} for r in records], schema=schema)


def merged_group(group: pa.Table, start: int, overlay: Overlay) -> pa.Table:
    """Parquet rows [start, start + len(group)) with the edits put in and the deleted left out."""
    stop = start + group.num_rows
    lo, hi = bisect_left(overlay.deleted, start), bisect_left(overlay.deleted, stop)
    edits = [r for i, r in overlay.edited.items() if start <= i < stop]
    if lo == hi and not edits:
        return group
    picks = list(range(group.num_rows))
    for offset, record in enumerate(edits):
        picks[record.row - start] = group.num_rows + offset
    for row in overlay.deleted[lo:hi]:
        picks[row - start] = -1
    kept = [p for p in picks if p >= 0]
    import pyarrow as pa

    whole = pa.concat_tables([group, changes_table(edits, group.schema)]) if edits else group
    return whole.take(pa.array(kept, pa.int64()))


def current_batches(parquet: pq.ParquetFile, overlay: Overlay,
                    columns: list[str] | None = None) -> Iterator[pa.Table]:
    """The current table (only `columns`, when given), one Parquet row group at a time, then
    the added rows."""
    import pyarrow as pa

    schema = parquet.schema_arrow
    if columns is not None:
        schema = pa.schema([schema.field(name) for name in columns])
    start = 0
    for index in range(parquet.metadata.num_row_groups):
        group = parquet.read_row_group(index, columns=columns)
        yield merged_group(group, start, overlay)
        start += group.num_rows
    if overlay.added:
        yield changes_table(overlay.added, schema)
