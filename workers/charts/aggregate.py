"""A chart's data, aggregated in NumPy and pyarrow: whatever the rows, a bounded number of
values (bins, categories, buckets, a sample, a matrix) comes out, never a point per row."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from core.store.visualizations import ChartSpec

MAX_GROUPS = 10  # series; the rest are lumped into "other"
MAX_CATEGORIES = 50  # bars, boxes: the most frequent values, the rest lumped into "other"
MAX_SCATTER = 2000  # points of a scatter chart, sampled evenly beyond that
OTHER = "other"

Floats = NDArray[np.float64]
Codes = NDArray[np.int64]
Values = list[dict[str, Any]]


def floats(column: pa.ChunkedArray) -> Floats:
    """The column as float64, nulls as NaN; dates and times as microseconds since 1970."""
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        column = pc.cast(pc.cast(column, pa.timestamp("us")), pa.int64())
    array = pc.cast(column, pa.float64()).to_numpy()
    return np.asarray(array, dtype=np.float64)


def categories(column: pa.ChunkedArray, limit: int) -> tuple[Codes, list[str]]:
    """Each row's category code, and the labels: every value when there are at most `limit`,
    else the `limit` most frequent and "other" for the rarer ones (nulls count as the value
    "null")."""
    text = pc.fill_null(pc.cast(column, pa.string()), "null").combine_chunks()
    encoded = pc.dictionary_encode(text)
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    labels = [str(v) for v in encoded.dictionary.to_pylist()]
    counts = np.bincount(codes, minlength=len(labels))
    if len(labels) <= limit:  # few enough: every value, in the order of their text
        top = np.array(sorted(range(len(labels)), key=labels.__getitem__), dtype=np.int64)
    else:
        top = np.argsort(-counts, kind="stable")[:limit]
    remap = np.full(len(labels), len(top), dtype=np.int64)
    remap[top] = np.arange(len(top))
    names = [labels[i] for i in top] + ([OTHER] if len(labels) > limit else [])
    return remap[codes], names


def grouped(codes: Codes, count: int, values: Floats | None, how: str) -> Floats:
    """`how` of `values` per code (0..count-1); NaN where a code has no value."""
    if how == "count" or values is None:
        return np.bincount(codes, minlength=count).astype(np.float64)
    keep = ~np.isnan(values)
    codes, values = codes[keep], values[keep]
    sizes = np.bincount(codes, minlength=count).astype(np.float64)
    out = np.full(count, np.nan)
    if how in ("sum", "mean"):
        sums = np.asarray(np.bincount(codes, weights=values, minlength=count), np.float64)
        if how == "sum":
            return sums
        np.divide(sums, sizes, out=out, where=sizes > 0)
        return out
    # Rows ordered by code (a stable integer sort), then each code's slice reduced on its own.
    order = np.argsort(codes, kind="stable")
    codes, values = codes[order], values[order]
    bounds = np.searchsorted(codes, np.arange(count + 1))
    reduce = {"min": np.min, "max": np.max}.get(how, np.median)
    for code in np.flatnonzero(np.diff(bounds)).tolist():
        out[code] = float(reduce(values[bounds[code]:bounds[code + 1]]))
    return out


class Frame:
    """The columns a chart reads, with the group of each row."""

    def __init__(self, table: pa.Table, spec: ChartSpec) -> None:
        self.table, self.spec = table, spec
        if spec.group_by:
            self.groups, self.group_names = categories(table.column(spec.group_by), MAX_GROUPS)
        else:
            self.groups = np.zeros(table.num_rows, dtype=np.int64)
            self.group_names = [""]

    def floats(self, name: str) -> Floats:
        return floats(self.table.column(name))

    def tag(self, row: dict[str, Any], group: int) -> dict[str, Any]:
        if self.spec.group_by:
            row["group"] = self.group_names[group]
        return row


def _num(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def histogram(frame: Frame) -> Values:
    x = frame.floats(frame.spec.x or "")
    finite = np.isfinite(x)
    edges = np.histogram_bin_edges(x[finite], frame.spec.bins) if finite.any() \
        else np.linspace(0.0, 1.0, frame.spec.bins + 1)
    values: Values = []
    for group in range(len(frame.group_names)):
        counts, _ = np.histogram(x[finite & (frame.groups == group)], edges)
        values += [frame.tag({"bin_start": float(edges[i]), "bin_end": float(edges[i + 1]),
                              "count": int(c)}, group) for i, c in enumerate(counts)]
    return values


def bar(frame: Frame) -> Values:
    spec = frame.spec
    cats, names = categories(frame.table.column(spec.x or ""), MAX_CATEGORIES)
    y = frame.floats(spec.y) if spec.y else None
    width = len(frame.group_names)
    result = grouped(cats * width + frame.groups, len(names) * width, y, spec.aggregation)
    return [frame.tag({"x": names[i // width], "value": _num(v)}, i % width)
            for i, v in enumerate(result) if not np.isnan(v)]


def line(frame: Frame) -> Values:
    spec = frame.spec
    column = frame.table.column(spec.x or "")
    temporal = pa.types.is_timestamp(column.type) or pa.types.is_date(column.type)
    x = floats(column)
    y = frame.floats(spec.y) if spec.y else None
    finite = np.isfinite(x)
    if not finite.any():
        return []
    low, high = float(np.min(x[finite])), float(np.max(x[finite]))
    span = (high - low) or 1.0
    bucket = np.clip(((x - low) / span * spec.bins).astype(np.int64, copy=False),
                     0, spec.bins - 1)
    width = len(frame.group_names)
    codes = (bucket * width + frame.groups)[finite]
    result = grouped(codes, spec.bins * width, None if y is None else y[finite],
                     spec.aggregation)
    values: Values = []
    for i, v in enumerate(result):
        if np.isnan(v) or (spec.aggregation == "count" and v == 0):
            continue
        centre = low + (i // width + 0.5) * span / spec.bins
        at: Any = _moment(centre) if temporal else centre
        values.append(frame.tag({"x": at, "value": _num(v)}, i % width))
    return values


def _moment(microseconds: float) -> str:
    return datetime.fromtimestamp(microseconds / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def scatter(frame: Frame) -> Values:
    x, y = frame.floats(frame.spec.x or ""), frame.floats(frame.spec.y or "")
    rows = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if len(rows) > MAX_SCATTER:
        rows = np.sort(np.random.default_rng(0).choice(rows, MAX_SCATTER, replace=False))
    return [frame.tag({"x": float(x[i]), "y": float(y[i])}, int(frame.groups[i]))
            for i in rows]


def box(frame: Frame) -> Values:
    spec = frame.spec
    y = frame.floats(spec.y or "")
    by = spec.x or spec.group_by
    if by:
        cats, names = categories(frame.table.column(by), MAX_CATEGORIES)
    else:
        cats, names = np.zeros(len(y), dtype=np.int64), [spec.y or ""]
    keep = np.isfinite(y)
    cats, y = cats[keep], y[keep]
    order = np.argsort(cats, kind="stable")
    cats, y = cats[order], y[order]
    bounds = np.searchsorted(cats, np.arange(len(names) + 1))
    values: Values = []
    for code, name in enumerate(names):
        part = y[bounds[code]:bounds[code + 1]]
        if len(part):
            low, q1, median, q3, high = np.percentile(part, [0, 25, 50, 75, 100])
            values.append({"x": name, "count": len(part), "min": float(low), "q1": float(q1),
                           "median": float(median), "q3": float(q3), "max": float(high)})
    return values


def heatmap(frame: Frame) -> Values:
    names = frame.spec.columns or []
    matrix = np.column_stack([frame.floats(n) for n in names])
    matrix = matrix[np.isfinite(matrix).all(axis=1)]
    r: Floats = np.full((len(names), len(names)), np.nan)
    if len(matrix) >= 2:
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.asarray(np.corrcoef(matrix, rowvar=False), dtype=np.float64)
    return [{"a": a, "b": b, "r": _num(r[i, j])}
            for i, a in enumerate(names) for j, b in enumerate(names)]


AGGREGATORS = {"histogram": histogram, "bar": bar, "line": line, "scatter": scatter,
               "box": box, "heatmap": heatmap}


def chart_values(table: pa.Table, spec: ChartSpec) -> Values:
    return AGGREGATORS[spec.kind](Frame(table, spec))


def needed_columns(spec: ChartSpec) -> list[str]:
    names = [*(spec.columns or []), spec.x, spec.y, spec.group_by]
    return list(dict.fromkeys(n for n in names if n))
