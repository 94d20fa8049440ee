"""The ingestion job: original file -> typed table -> Parquet + schema and statistics.

Nothing becomes visible before the end: the Parquet object is written whole (or not at all),
and the dataset document, which is what makes a dataset exist, is saved last.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from core.errors import NotFound
from core.store.datasets import ColumnSchema, DatasetDoc
from core.store.jobs import JobDoc
from workers.deps import WorkerDeps
from workers.errors import BadFile, JobFailed
from workers.ingest.budget import ReadBudget
from workers.ingest.csv_reader import read_csv
from workers.ingest.dat_reader import read_dat
from workers.ingest.formats import check_format
from workers.ingest.infer import profile, type_columns
from workers.ingest.mat_reader import read_mat
from workers.ingest.xlsx_reader import read_xlsx
from workers.progress import JobProgressReporter
from workers.threads import in_job_thread

Chunks = Iterator[tuple[float, pa.Table]]
ROW_GROUP_CELLS = 1 << 20
MIN_GROUP_ROWS, MAX_GROUP_ROWS = 1024, 65_536
# A column is dictionary-encoded in Parquet when each value repeats this often on average
# within a row group (a dictionary is per row group): a column of distinct values (ids, names,
# measures), or of a hundred thousand zip codes in groups of 65,536 rows, would only hash every
# value into a dictionary that saves nothing or falls back.
DICTIONARY_REPEATS = 4


def dataset_key(dataset_id: str) -> str:
    return f"datasets/{dataset_id}/data.parquet"


def row_group_rows(columns: int) -> int:
    """Rows per Parquet row group: about a million cells, so that a page of the preview reads
    one small group rather than the file (pyarrow's default is a million rows)."""
    return max(MIN_GROUP_ROWS, min(MAX_GROUP_ROWS, ROW_GROUP_CELLS // max(columns, 1)))


def write_parquet(table: pa.Table, columns: list[ColumnSchema], target: Path) -> None:
    """The dataset's Parquet file (zstd); `columns` (its profile) says which columns repeat
    enough for a dictionary."""
    group = row_group_rows(table.num_columns)
    repeated = [c.name for c in columns
                if c.stats.distinct * DICTIONARY_REPEATS <= max(min(c.stats.count, group), 1)]
    pq.write_table(table, target, compression="zstd", use_dictionary=repeated,
                   row_group_size=group)


def open_reader(kind: str, path: Path, budget: ReadBudget, header: bool | None = None) -> Chunks:
    if kind == "csv":
        return read_csv(path, header=header)
    if kind == "xlsx":
        return read_xlsx(path, budget, header=header)
    if kind == "dat":
        return read_dat(path, header=header)
    return read_mat(path, kind)


async def ingest(deps: WorkerDeps, job: JobDoc, report: JobProgressReporter) -> dict[str, Any]:
    upload = await deps.stores.uploads.get(job.upload_id or "")
    if upload is None:
        raise JobFailed("not_found", "the upload no longer exists")
    with tempfile.TemporaryDirectory(prefix="roomcast-ingest-") as tmp:
        # openpyxl goes by the file name: keep the extension.
        source = Path(tmp) / f"source.{upload.format}"
        await report.step("downloading", 2)
        await _download(deps, upload.object_key, source)
        head = await in_job_thread(_head, source)
        kind = check_format(upload.format, head)
        budget = ReadBudget(max_cells=deps.settings.ingest_max_cells,
                            max_seconds=deps.settings.ingest_max_seconds)
        async with report.watching(budget.halt, deps.settings.job_cancel_poll_ms / 1000):
            # The XLSX reader charges the budget row by row; the others by the chunk here.
            per_chunk = None if kind == "xlsx" else budget
            table = await _read(open_reader(kind, source, budget, upload.header), report,
                                per_chunk)
        await report.step("profiling", 75)
        table = await in_job_thread(type_columns, table, dict(upload.types))
        columns = await in_job_thread(profile, table)
        await report.step("writing", 85)
        target = Path(tmp) / "data.parquet"
        await in_job_thread(write_parquet, table, columns, target)
        # The dataset takes the job's id: a rerun of the job overwrites, never duplicates.
        key = dataset_key(job.id)
        await _upload(deps, target, key)
    dataset = DatasetDoc(
        id=job.id, project_id=job.project_id, upload_id=upload.id, job_id=job.id,
        name=upload.filename, format=kind, rows=table.num_rows, columns=columns,
        object_key=key, created_by=job.created_by,
    )
    await report.step("saving", 95)
    await deps.stores.datasets.save(dataset)
    return {"dataset_id": dataset.id, "rows": dataset.rows, "columns": len(columns)}


async def discard(deps: WorkerDeps, job: JobDoc) -> None:
    """Remove whatever a failed or cancelled ingestion may have written."""
    await deps.stores.datasets.delete(job.id)
    await deps.objects.delete(dataset_key(job.id))


async def _read(chunks: Chunks, report: JobProgressReporter,
                per_chunk: ReadBudget | None) -> pa.Table:
    tables: list[pa.Table] = []
    while True:
        item = await in_job_thread(next, chunks, None)
        if item is None:
            break
        fraction, chunk = item
        if per_chunk is not None:
            per_chunk.spend(chunk.num_rows * max(chunk.num_columns, 1))
        tables.append(chunk)
        await report.step("reading", 5 + 65 * fraction)
    if not tables or sum(t.num_rows for t in tables) == 0:
        raise BadFile("empty_file", "the file has no data rows")
    return pa.concat_tables(tables)


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(4096)


async def _download(deps: WorkerDeps, key: str, target: Path) -> None:
    handle = await in_job_thread(target.open, "wb")
    try:
        async for chunk in deps.objects.open_stream(key):
            await in_job_thread(handle.write, chunk)
    except NotFound as exc:
        raise JobFailed("not_found", "the uploaded file was deleted") from exc
    finally:
        handle.close()


async def _upload(deps: WorkerDeps, source: Path, key: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        handle = await in_job_thread(source.open, "rb")
        try:
            while data := await in_job_thread(handle.read, 1 << 20):
                yield data
        finally:
            handle.close()

    await deps.objects.put_stream(key, chunks(), content_type="application/vnd.apache.parquet")
