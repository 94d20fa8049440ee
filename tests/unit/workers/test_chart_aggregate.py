"""The chart aggregations against sums worked out by hand: nulls, "other", medians, buckets."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa

from core.store.visualizations import ChartSpec
from workers.charts.aggregate import MAX_GROUPS, categories, chart_values, grouped


def test_grouped_reductions_per_code_skip_missing_values() -> None:
    codes = np.array([0, 1, 0, 2, 0, 1])
    values = np.array([3.0, 10.0, 1.0, np.nan, 2.0, 20.0])
    assert grouped(codes, 4, values, "count").tolist() == [3, 2, 1, 0]
    assert grouped(codes, 3, values, "sum").tolist() == [6.0, 30.0, 0.0]
    for how, expected in (("mean", [2.0, 15.0]), ("median", [2.0, 15.0]),
                          ("min", [1.0, 10.0]), ("max", [3.0, 20.0])):
        result = grouped(codes, 3, values, how)
        assert result[:2].tolist() == expected and np.isnan(result[2]), how


def test_rare_values_are_lumped_into_other_and_nulls_are_a_value() -> None:
    column = pa.chunked_array([[f"v{i % 15}" for i in range(150)] + [None] * 20])
    codes, names = categories(column, MAX_GROUPS)
    assert names[0] == "null" and names[-1] == "other" and len(names) == MAX_GROUPS + 1
    assert np.bincount(codes)[0] == 20 and np.bincount(codes).sum() == 170
    few, labels = categories(pa.chunked_array([["b", "a", None, "b"]]), MAX_GROUPS)
    assert labels == ["a", "b", "null"] and few.tolist() == [1, 0, 2, 1]


def test_a_line_over_dates_buckets_the_rows() -> None:
    table = pa.table({
        "at": pa.array([datetime(2026, 1, d) for d in (1, 1, 2, 31)], pa.timestamp("us")),
        "v": pa.array([1.0, 3.0, None, 10.0]),
    })
    values = chart_values(table, ChartSpec(kind="line", x="at", y="v", aggregation="mean",
                                           bins=2))
    assert [(v["x"][:10], v["value"]) for v in values] == [("2026-01-08", 2.0),
                                                           ("2026-01-23", 10.0)]


def test_a_scatter_never_carries_more_than_its_sample() -> None:
    table = pa.table({"x": np.arange(50_000, dtype=np.float64),
                      "y": np.arange(50_000, dtype=np.float64)})
    values = chart_values(table, ChartSpec(kind="scatter", x="x", y="y"))
    assert len(values) == 2000
    assert all(v["x"] == v["y"] for v in values)
