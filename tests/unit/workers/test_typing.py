"""Typing text columns: what becomes null, what keeps its text, what becomes a timestamp."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from workers.errors import BadFile
from workers.ingest.csv_reader import read_csv
from workers.ingest.infer import type_columns


def _typed(path: Path, text: str, overrides: dict[str, str] | None = None) -> pa.Table:
    path.write_text(text)
    table = pa.concat_tables([chunk for _, chunk in read_csv(path)])
    return type_columns(table, overrides)


def test_offsets_and_z_become_utc_timestamps(tmp_path: Path) -> None:
    table = _typed(tmp_path / "t.csv",
                   "at\n2024-01-31T10:00:00Z\n2024-01-31T10:00:00+02:00\n")
    column = table.column("at")
    assert column.type == pa.timestamp("us", tz="UTC")
    assert column.to_pylist() == [datetime(2024, 1, 31, 10, tzinfo=UTC),
                                  datetime(2024, 1, 31, 8, tzinfo=UTC)]


def test_zero_led_codes_stay_text_unless_asked(tmp_path: Path) -> None:
    text = "zip,n\n02134,1\n10001,2\n"
    assert _typed(tmp_path / "z.csv", text).column("zip").to_pylist() == ["02134", "10001"]
    assert _typed(tmp_path / "z.csv", text).column("n").type == pa.int64()
    forced = _typed(tmp_path / "z.csv", text, {"zip": "integer", "n": "string"})
    assert forced.column("zip").to_pylist() == [2134, 10001]
    assert forced.column("n").to_pylist() == ["1", "2"]


def test_null_tokens_are_the_documented_ones(tmp_path: Path) -> None:
    table = _typed(tmp_path / "n.csv", "country,v\nNA,None\nFR,null\nDE,N/A\nUS,3\n")
    assert table.column("country").to_pylist() == ["NA", "FR", "DE", "US"]
    assert table.column("v").to_pylist() == [None, None, None, 3]


def test_twenty_digit_integers_stay_exact(tmp_path: Path) -> None:
    table = _typed(tmp_path / "big.csv", "id\n12345678901234567890\n1\n")
    assert table.column("id").to_pylist() == ["12345678901234567890", "1"]


@pytest.mark.parametrize(("overrides", "code"), [
    ({"nope": "integer"}, "unknown_column"), ({"name": "float"}, "type_mismatch"),
])
def test_overrides_that_do_not_fit_fail_clearly(
    tmp_path: Path, overrides: dict[str, str], code: str
) -> None:
    with pytest.raises(BadFile) as caught:
        _typed(tmp_path / "o.csv", "name\nabc\n", overrides)
    assert caught.value.code == code


def test_cells_padded_with_any_space_are_trimmed(tmp_path: Path) -> None:
    # ASCII and Unicode spaces (no-break, ideographic) around numbers, and none at all.
    table = _typed(tmp_path / "p.csv", "n,m\n\u00a05\u00a0,1\n\u30007,2\n\t8 ,3\n")
    assert table.column("n").to_pylist() == [5, 7, 8]
    assert table.column("m").to_pylist() == [1, 2, 3]


def test_signed_and_late_zero_led_numbers_keep_the_column_text(tmp_path: Path) -> None:
    rows = "".join(f"{i}\n" for i in range(1, 3000))
    late = _typed(tmp_path / "l.csv", "n\n" + rows + "-007\n")
    assert late.column("n").type == pa.string()
    assert late.column("n").to_pylist()[-1] == "-007"
    # Not zero-led: a lone zero, a signed zero, hexadecimal (which int64 parsing accepts).
    plain = _typed(tmp_path / "z.csv", "n,h\n0,0x10\n-0,0x1f\n+0.5,0x0\n")
    assert plain.column("n").to_pylist() == [0.0, 0.0, 0.5]
    assert plain.column("h").to_pylist() == [16, 31, 0]


def test_booleans_in_any_case_with_nulls(tmp_path: Path) -> None:
    usual = _typed(tmp_path / "b.csv", "b\nTrue\nFALSE\nnull\ntrue\n")
    assert usual.column("b").to_pylist() == [True, False, None, True]
    mixed = _typed(tmp_path / "m.csv", "b,n\ntRuE,1\nfalse,2\n,3\n")
    assert mixed.column("b").to_pylist() == [True, False, None]


def test_a_column_that_fails_a_cast_late_is_not_that_type(tmp_path: Path) -> None:
    rows = "".join(f"{i}.5\n" for i in range(3000))
    table = _typed(tmp_path / "f.csv", "x\n" + rows + "abc\n")
    assert table.column("x").type == pa.string()
