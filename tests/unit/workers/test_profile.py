"""Column statistics: distinct counts as pyarrow's `unique` counts them, on every layout."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from workers.ingest.infer import profile

NAN_PAYLOAD = np.array([0x7FF8000000000001], np.uint64).view(np.float64)[0]


@pytest.mark.parametrize("column", [
    pa.chunked_array([[0.0, -0.0, float("nan"), float("nan"), NAN_PAYLOAD, float("inf"), 1.0,
                       None]]),
    pa.chunked_array([pa.array([5, 1, 5, None, 7, 2]).slice(1), pa.array([2, -3, None])]),
    pa.chunked_array([pa.array(np.arange(300, dtype=np.uint8) % 251)]),
    pa.chunked_array([pa.array(np.array([1.5, 2.5, 1.5, -1.0], np.float32))]),
    pa.chunked_array([pa.array([datetime(2024, 1, d % 5 + 1, tzinfo=UTC) for d in range(9)])]),
    pa.chunked_array([pa.array([True, False, None, True])]),
    pa.chunked_array([pa.array(["b", "a", "b", None])]),
], ids=["float64", "int64-sliced", "uint8", "float32", "timestamp", "bool", "string"])
def test_distinct_counts_equal_pyarrows(column: pa.ChunkedArray) -> None:
    (schema,) = profile(pa.table({"x": column}))
    assert schema.stats.distinct == len(pc.unique(column.drop_null()))
    assert schema.stats.count == len(column) - column.null_count


def test_a_column_of_nulls_has_no_distinct_values() -> None:
    (schema,) = profile(pa.table({"x": pa.array([None, None], pa.float64())}))
    assert (schema.stats.count, schema.stats.distinct) == (0, 0)


def _names(count: int) -> list[str]:
    rng = np.random.default_rng(7)
    letters = rng.integers(ord("a"), ord("z") + 1, size=(count, 12), dtype=np.uint8)
    return [row.tobytes().decode() for row in letters]


@pytest.mark.parametrize("values", [
    _names(9_000),  # all different
    _names(9_000) + ["late duplicate"] * 2,  # equal values past the first ones
    [f"id-{i:08d}-end" for i in range(9_000)],  # different only past the first eight bytes
    [""] + ["a" * n for n in range(1, 5_000)] + ["\0" * n for n in range(1, 5_000)],
], ids=["distinct", "late-duplicate", "middle", "prefixes"])
def test_text_distinct_counts_and_top_equal_a_full_count(values: list[str]) -> None:
    column = pa.chunked_array([values[:5_000], values[5_000:]])
    (schema,) = profile(pa.table({"x": column}))
    counted = pc.value_counts(column)
    assert schema.stats.distinct == len(counted)
    counts = dict(zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(),
                      strict=True))
    assert schema.stats.top is not None and len(schema.stats.top) == 10
    for entry in schema.stats.top:
        assert counts[entry["value"]] == entry["count"]
    if len(counted) == len(values):  # ties: the first values, in order
        assert [e["value"] for e in schema.stats.top] == values[:10]


@pytest.mark.parametrize("values", [
    [0.0, -0.0, -1.0, -1.0],  # both zeros: the largest is whichever NumPy's max finds
    [-0.0] * 40 + [0.0] * 40 + [3.0, float("inf"), float("nan")],
    [5.0] * 3,  # one value: a bin of width one around it
    list(np.random.default_rng(1).normal(size=5_000)),
], ids=["zeros-last", "zeros-first", "constant", "normal"])
def test_histograms_equal_numpys(values: list[float]) -> None:
    (schema,) = profile(pa.table({"x": pa.array(values, pa.float64())}))
    finite = np.array([v for v in values if np.isfinite(v)])
    counts, edges = np.histogram(finite, bins=10)
    assert schema.stats.histogram is not None
    assert [repr(e) for e in schema.stats.histogram["edges"]] == [repr(float(e)) for e in edges]
    assert schema.stats.histogram["counts"] == [float(c) for c in counts]


def test_a_range_too_narrow_for_ten_bins_gets_fewer() -> None:
    values = [5e-324, 1e-323, 1e-323, 1.5e-323]
    (schema,) = profile(pa.table({"x": pa.array(values)}))
    histogram = schema.stats.histogram
    assert histogram is not None
    edges, counts = histogram["edges"], histogram["counts"]
    assert 1 <= len(counts) < 10 and len(edges) == len(counts) + 1
    expected, expected_edges = np.histogram(values, len(counts))
    assert counts == [float(c) for c in expected]
    assert edges == [float(e) for e in expected_edges]
