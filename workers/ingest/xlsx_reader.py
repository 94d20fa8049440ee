"""XLSX: openpyxl in read-only mode (rows stream from the sheet's XML without loading it).

An XLSX file is a zip: its declared uncompressed sizes are checked before openpyxl sees it,
so a zip bomb is refused without inflating a byte of it.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pyarrow as pa

from workers.errors import BadFile
from workers.ingest.budget import ReadBudget
from workers.ingest.limits import (
    CHUNK_ROWS,
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    MAX_SHEET_ROWS,
    XLSX_MAX_RATIO,
    XLSX_MAX_UNCOMPRESSED,
    XLSX_RATIO_FROM,
)


def check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadFile("invalid_file", "the workbook is not a valid zip archive") from exc
    total = sum(info.file_size for info in infos)
    packed = sum(info.compress_size for info in infos)
    # A small archive may compress very well (an empty sheet); the ratio matters when large.
    ratio_bomb = total > XLSX_RATIO_FROM and total > max(packed, 1) * XLSX_MAX_RATIO
    if total > XLSX_MAX_UNCOMPRESSED or ratio_bomb:
        raise BadFile(
            "zip_bomb",
            f"the workbook inflates to {total} bytes from {packed} (limits: "
            f"{XLSX_MAX_UNCOMPRESSED} bytes, ratio {XLSX_MAX_RATIO})",
        )
    if not any(info.filename.startswith("xl/worksheets/") for info in infos):
        raise BadFile("invalid_file", "the archive has no worksheet")


def read_xlsx(path: Path, budget: ReadBudget | None = None,
              header: bool | None = None) -> Iterator[tuple[float, pa.Table]]:
    """Yield (fraction read, chunk) from the first worksheet; its first row is the header.

    The sheet's declared dimension is not trusted: openpyxl pads every row to it, so
    `<dimension ref="A1:XFD1048576"/>` over three cells would make each row 16,384 values
    wide and the sheet a million rows long. Rows come as wide as their last real cell, no
    further down than a sheet can reach, and each row is charged to the budget.
    """
    budget = budget or ReadBudget.unbounded()
    check_zip(path)
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a malformed workbook
        raise BadFile("invalid_file", f"the workbook cannot be read: {exc}") from exc
    try:
        sheet = book.worksheets[0]
        total = min(max(int(sheet.max_row or 0), 1), MAX_SHEET_ROWS)
        sheet.reset_dimensions()
        rows = sheet.iter_rows(max_row=MAX_SHEET_ROWS, values_only=True)
        first = next(rows, None)
        chunk: list[tuple[Any, ...]] = []
        if header is False and first is not None:  # the first row is data: generated names
            width = len(_header(tuple(f"c{i}" if v is not None else None
                                      for i, v in enumerate(first))))
            names = [f"column_{i + 1}" for i in range(width)]
            chunk.append(first)
        else:
            names = _header(first)
        seen = 1
        for row in rows:
            seen += 1
            budget.spend(len(row) + 1)  # a row missing from the sheet costs one
            if all(value is None for value in row):
                continue
            chunk.append(row)
            if len(chunk) >= CHUNK_ROWS:
                yield min(seen / total, 1.0), _table(names, chunk)
                chunk = []
        yield 1.0, _table(names, chunk)
    finally:
        book.close()


def _header(row: tuple[Any, ...] | None) -> list[str]:
    if row is None:
        raise BadFile("empty_file", "the first worksheet is empty")
    while row and row[-1] is None:
        row = row[:-1]
    if len(row) > MAX_COLUMNS:
        raise BadFile("too_many_columns", f"{len(row)} columns (at most {MAX_COLUMNS})")
    names = [str(v) if v is not None else f"column_{i + 1}" for i, v in enumerate(row)]
    if len(set(names)) != len(names):
        raise BadFile("invalid_file", "two columns have the same name")
    return names


def _table(names: list[str], rows: list[tuple[Any, ...]]) -> pa.Table:
    columns: list[list[str | None]] = [[] for _ in names]
    for row in rows:
        if any(v is not None for v in row[len(names):]):
            raise BadFile("ragged_rows", "a row has values past the header's last column")
        for i, column in enumerate(columns):
            column.append(_text(row[i]) if i < len(row) else None)
    return pa.table({name: pa.array(col, pa.string()) for name, col in zip(names, columns,
                                                                          strict=True)})


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    text = str(value)
    if len(text) > MAX_CELL_CHARS:
        raise BadFile("cell_too_large", f"a cell has {len(text)} characters "
                      f"(at most {MAX_CELL_CHARS})")
    return text
