"""Typing each column and profiling it: the schema and statistics stored with a dataset.

Columns arrive as text (CSV, XLSX) or numbers (DAT, MAT). A text column takes the narrowest
type every non-empty value casts to: integer, float, boolean, datetime, else string.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.store.datasets import ColumnSchema, ColumnStats
from workers.errors import BadFile
from workers.ingest.limits import MAX_CELL_CHARS

CATEGORICAL_MAX_DISTINCT = 50
HISTOGRAM_BINS = 10
# Cells that mean "no value", compared after trimming. Not pandas' or pyarrow's list: `NA` is
# a country (Namibia) and a continent code, so it stays text; `None` is a common export of
# Python tools, so it is a null.
NULL_TOKENS = ("", "null", "NULL", "Null", "None", "none", "NaN", "nan", "N/A", "n/a", "#N/A")
# An integer written with a leading zero (a zip or product code): the zero is part of it.
ZERO_LED = r"^[+-]?0[0-9]+$"
INTEGER_TEXT = r"^[+-]?[0-9]+$"
TIMESTAMP = pa.timestamp("us")
UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")
CANDIDATES: list[tuple[str, pa.DataType]] = [
    ("integer", pa.int64()), ("float", pa.float64()), ("datetime", TIMESTAMP),
    # ISO 8601 with `Z` or an offset, every value of the column: converted to UTC.
    ("datetime", UTC_TIMESTAMP),
]
# What an upload may ask a column to be (`types`), and the Arrow type each one casts to.
OVERRIDES: dict[str, pa.DataType] = {
    "string": pa.string(), "integer": pa.int64(), "float": pa.float64(),
    "boolean": pa.bool_(), "datetime": TIMESTAMP,
}


def type_columns(table: pa.Table, overrides: dict[str, str] | None = None) -> pa.Table:
    """Cast every text column to its inferred type, or to the type `overrides` names."""
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(table.column_names))
    if unknown:
        raise BadFile("unknown_column", f"types were given for columns the file does not "
                      f"have: {', '.join(unknown)}")
    arrays = [_typed(table.column(i), overrides.get(name))
              for i, name in enumerate(table.column_names)]
    return pa.table(arrays, names=table.column_names)


def _typed(column: pa.ChunkedArray, wanted: str | None = None) -> pa.ChunkedArray:
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        return column if wanted is None else _forced(column, wanted)
    longest = pc.max(pc.utf8_length(column)).as_py()
    if longest is not None and longest > MAX_CELL_CHARS:
        raise BadFile("cell_too_large", f"a cell has {longest} characters "
                      f"(at most {MAX_CELL_CHARS})")
    text = pc.utf8_trim_whitespace(column)
    text = pc.if_else(pc.is_in(text, pa.array(NULL_TOKENS)), pa.scalar(None, pa.string()), text)
    if wanted is not None:
        return _forced(text, wanted)
    if text.null_count == len(text):
        return text
    for kind, target in CANDIDATES:
        try:
            typed = pc.cast(text, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        if kind in ("integer", "float") and _zero_led(text):
            return text  # 02134 stays 02134 (ask for `integer` to drop the zeros)
        if kind == "float" and not pc.any(pc.match_substring(text, ".")).as_py() and pc.all(
                pc.match_substring_regex(pc.drop_null(text), INTEGER_TEXT)).as_py():
            return text  # integers past 64 bits (int64 refused them): kept exact, as text
        return typed
    lowered = pc.utf8_lower(text)
    if pc.all(pc.is_in(pc.drop_null(lowered), pa.array(["true", "false"]))).as_py():
        return pc.equal(lowered, "true")
    return text


def _zero_led(text: pa.ChunkedArray) -> bool:
    # Only numbers get here: a cheap prefix test first, the exact pattern on what it keeps.
    led = pc.or_(pc.starts_with(text, "0"),
                 pc.or_(pc.starts_with(text, "-0"), pc.starts_with(text, "+0")))
    maybe = pc.filter(text, led)
    return len(maybe) > 0 and bool(pc.any(pc.match_substring_regex(maybe, ZERO_LED)).as_py())


def _forced(column: pa.ChunkedArray, wanted: str) -> pa.ChunkedArray:
    target = OVERRIDES[wanted]
    try:
        if wanted == "boolean" and pa.types.is_string(column.type):
            lowered = pc.utf8_lower(column)
            if not pc.all(pc.is_in(pc.drop_null(lowered), pa.array(["true", "false"]))).as_py():
                raise pa.ArrowInvalid("not true or false")
            return pc.equal(lowered, "true")
        if wanted == "datetime" and pa.types.is_string(column.type):
            try:
                return pc.cast(column, TIMESTAMP)
            except pa.ArrowInvalid:
                return pc.cast(column, UTC_TIMESTAMP)
        return pc.cast(column, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise BadFile("type_mismatch", f"a column asked to be {wanted} holds a value that "
                      f"is not: {exc}") from exc


def type_name(data_type: pa.DataType) -> str:
    if pa.types.is_integer(data_type):
        return "integer"
    if pa.types.is_floating(data_type):
        return "float"
    if pa.types.is_boolean(data_type):
        return "boolean"
    if pa.types.is_timestamp(data_type) or pa.types.is_date(data_type):
        return "datetime"
    return "string"


def profile(table: pa.Table) -> list[ColumnSchema]:
    return [_profile(name, table.column(name)) for name in table.column_names]


def _profile(name: str, column: pa.ChunkedArray) -> ColumnSchema:
    kind = type_name(column.type)
    values = column.drop_null()
    count = len(values)
    counted = pc.value_counts(values) if count and kind != "float" else None
    if counted is not None:
        distinct = len(counted)
    else:
        distinct = int(pc.count_distinct(values).as_py()) if count else 0
    stats = ColumnStats(count=count, nulls=column.null_count, distinct=distinct)
    if kind in ("integer", "float") and count:
        _numeric_stats(stats, values)
    elif kind == "datetime" and count:
        stats.min = pc.min(values).as_py().isoformat()
        stats.max = pc.max(values).as_py().isoformat()
    categorical = kind in ("string", "integer", "boolean") and 0 < distinct <= min(
        CATEGORICAL_MAX_DISTINCT, max(count - 1, 1)
    )
    if (categorical or kind == "string") and counted is not None:
        stats.top = _top(counted)
    return ColumnSchema(name=name, type=kind, categorical=categorical, stats=stats)


def _numeric_stats(stats: ColumnStats, values: pa.ChunkedArray) -> None:
    array = values.to_numpy().astype(np.float64)
    finite = array[np.isfinite(array)]
    if not len(finite):
        return
    stats.min = _plain(pc.min(values).as_py())
    stats.max = _plain(pc.max(values).as_py())
    stats.mean = float(finite.mean())
    stats.std = float(finite.std(ddof=1)) if len(finite) > 1 else 0.0
    counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS)
    stats.histogram = {"edges": [float(e) for e in edges], "counts": [float(c) for c in counts]}


def _top(counted: pa.StructArray, limit: int = 10) -> list[dict[str, Any]]:
    # The most frequent values picked in NumPy: a column of a million distinct names must not
    # become a million Python objects to sort. Ties keep the order of first appearance.
    counts = counted.field("counts").to_numpy()
    best = np.argsort(-counts, kind="stable")[:limit]
    top = counted.take(pa.array(best)).to_pylist()
    return [{"value": _plain(i["values"]), "count": i["counts"]} for i in top]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
