"""The dataset's Parquet file: the same rows back, a dictionary only where values repeat."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from workers.ingest.infer import profile
from workers.ingest.pipeline import write_parquet


def test_only_repeating_columns_get_a_dictionary(tmp_path: Path) -> None:
    rows = 4_000
    table = pa.table({
        "id": pa.array(range(rows)),
        "name": pa.array([f"n{i:05d}" for i in range(rows)]),
        "category": pa.array([f"c{i % 7}" for i in range(rows)]),
        "count": pa.array([i % 100 for i in range(rows)]),
    })
    target = tmp_path / "d.parquet"
    write_parquet(table, profile(table), target)
    assert pq.read_table(target).equals(table)
    group = pq.ParquetFile(target).metadata.row_group(0)
    dictionary = {group.column(i).path_in_schema: group.column(i).has_dictionary_page
                  for i in range(group.num_columns)}
    assert dictionary == {"id": False, "name": False, "category": True, "count": True}


def test_a_dictionary_only_where_values_repeat_within_a_row_group(tmp_path: Path) -> None:
    # 20,000 codes over 80,000 rows repeat four times in the file, but a row group of 65,536
    # rows holds nearly all of them once or twice: a dictionary there would save nothing.
    rows = 80_000
    codes = pa.array([f"{i % 20_000:05d}" for i in range(rows)])
    table = pa.table({"code": codes})
    target = tmp_path / "codes.parquet"
    write_parquet(table, profile(table), target)
    assert pq.read_table(target).equals(table)
    assert not pq.ParquetFile(target).metadata.row_group(0).column(0).has_dictionary_page
