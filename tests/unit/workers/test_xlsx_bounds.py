"""The XLSX reader's work is bounded by the cells a sheet holds, not by what it declares."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from tests.support.hostile import huge_dimension_xlsx, rewrite_sheet, xlsx_bytes
from workers.errors import BadFile, JobCancelled, JobFailed
from workers.ingest.budget import ReadBudget
from workers.ingest.xlsx_reader import read_xlsx


def _read(path: Path, budget: ReadBudget) -> pa.Table:
    return pa.concat_tables([table for _, table in read_xlsx(path, budget)])


def test_a_declared_dimension_of_the_whole_sheet_costs_only_its_cells(tmp_path: Path) -> None:
    path = tmp_path / "wedge.xlsx"
    path.write_bytes(huge_dimension_xlsx())
    assert path.stat().st_size < 8 * 1024
    budget = ReadBudget(max_cells=100, max_seconds=float("inf"))
    table = _read(path, budget)  # padded to the declared width, this spends ~16,384 a row
    assert table.to_pylist() == [{"name": "a", "n": None}]
    assert budget.cells <= 10


def test_a_row_far_down_the_sheet_is_charged_for_the_rows_before_it(tmp_path: Path) -> None:
    path = tmp_path / "far.xlsx"
    far = rewrite_sheet(xlsx_bytes([["name"], ["a"], ["b"]]),
                        {rb'<row r="3"': b'<row r="900000"', rb'r="A3"': b'r="A900000"'})
    path.write_bytes(far)
    with pytest.raises(BadFile) as caught:
        _read(path, ReadBudget(max_cells=10_000, max_seconds=float("inf")))
    assert caught.value.code == "too_many_cells"
    assert _read(path, ReadBudget.unbounded()).column("name").to_pylist() == ["a", "b"]


def test_a_halted_budget_stops_the_read_inside_a_chunk(tmp_path: Path) -> None:
    path = tmp_path / "rows.xlsx"
    path.write_bytes(xlsx_bytes([["n"], *([i] for i in range(50))]))
    budget = ReadBudget(max_cells=1 << 30, max_seconds=float("inf"))
    chunks = read_xlsx(path, budget)
    budget.halt()  # before the first chunk (50,000 rows) could be complete
    with pytest.raises(JobCancelled):
        next(chunks)


def test_the_read_stops_when_its_time_is_spent(tmp_path: Path) -> None:
    path = tmp_path / "rows.xlsx"
    path.write_bytes(xlsx_bytes([["n"], [1], [2]]))
    with pytest.raises(JobFailed) as caught:
        _read(path, ReadBudget(max_cells=1 << 30, max_seconds=-1.0))
    assert caught.value.code == "ingest_timeout"
