"""DAT: whitespace-separated numbers, one row per line, an optional header line.

NumPy parses each chunk of lines at C speed once split; a non-numeric field or a row of the
wrong width fails the file with its line number.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from workers.errors import BadFile
from workers.ingest.limits import CHUNK_ROWS, MAX_CELL_CHARS, MAX_COLUMNS


def read_dat(path: Path, header: bool | None = None) -> Iterator[tuple[float, pa.Table]]:
    """Yield (fraction read, chunk); `header` None: the first line is one unless all numbers."""
    size = max(path.stat().st_size, 1)
    names: list[str] | None = None
    chunk: list[list[str]] = []
    done = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            done += len(raw)
            if len(raw) > MAX_CELL_CHARS * 4:
                raise BadFile("cell_too_large", f"line {number} is {len(raw)} bytes long")
            line = raw.decode("utf-8", errors="replace").strip()
            if not line or line.startswith(("#", "%")):
                continue
            fields = line.split()
            if names is None:
                names = _header(fields, header)
                if names is not None:
                    continue
                names = [f"column_{i + 1}" for i in range(len(fields))]
            if len(fields) != len(names):
                raise BadFile("ragged_rows", f"line {number} has {len(fields)} fields, "
                              f"expected {len(names)}")
            chunk.append(fields)
            if len(chunk) >= CHUNK_ROWS:
                yield done / size, _table(names, chunk, number)
                chunk = []
    if names is None:
        raise BadFile("empty_file", "the file has no rows")
    yield 1.0, _table(names, chunk, 0)


def _header(fields: list[str], header: bool | None) -> list[str] | None:
    if len(fields) > MAX_COLUMNS:
        raise BadFile("too_many_columns", f"{len(fields)} columns (at most {MAX_COLUMNS})")
    if header is False or (header is None and all(_numeric(f) for f in fields)):
        return None
    if len(set(fields)) != len(fields):
        # A table keeps one column per name: the second `x` would silently replace the first.
        raise BadFile("invalid_file", "two columns have the same name")
    return fields


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _table(names: list[str], rows: list[list[str]], last_line: int) -> pa.Table:
    try:
        values = np.array(rows, dtype=np.float64).reshape(len(rows), len(names))
    except ValueError as exc:
        raise BadFile("invalid_file", f"a field before line {last_line} is not a number: "
                      f"{exc}") from exc
    return pa.table({name: values[:, i] for i, name in enumerate(names)})
