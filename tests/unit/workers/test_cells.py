"""Byte-level facts about text columns: never "no" where pyarrow compute would say yes."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from workers.ingest.cells import CellBytes

TOKENS = ("", "null", "N/A")


def _column(values: list[str | None], large: bool = False, sliced: bool = False
            ) -> pa.ChunkedArray:
    kind = pa.large_string() if large else pa.string()
    first = pa.array(["skip", *values[:2]], kind)
    chunks = [first.slice(1) if sliced else pa.array(values[:2], kind),
              pa.array(values[2:], kind)]
    return pa.chunked_array(chunks, kind)


@pytest.mark.parametrize("large", [False, True])
@pytest.mark.parametrize("sliced", [False, True])
@pytest.mark.parametrize("values", [
    ["a", " b", "c", None], ["a", "b\u00a0", None, "d"], ["x", "y", "z", "\t"],
    ["plain", None, "cells", "only"], ["", "", "x", None], ["null", "1", "2", "3"],
    ["n/a", "N/A", "007", "-0.5"], ["-007", "+01", "0", "0x10"], [None, None, None, None],
])
def test_answers_agree_with_pyarrow(values: list[str | None], large: bool, sliced: bool
                                    ) -> None:
    column = _column(values, large, sliced)
    cells = CellBytes(column)
    trimmed = pc.utf8_trim_whitespace(column)
    if not trimmed.equals(column):
        assert cells.padded()
    if pc.any(pc.is_in(column, pa.array(TOKENS))).as_py():
        assert cells.may_be(TOKENS)
    led = pc.match_substring_regex(column, r"^[+-]?0[0-9]+$").fill_null(False)
    assert not (led.to_numpy(zero_copy_only=False) & ~cells.zero_led()).any()
    assert cells.dotted() == bool(pc.any(pc.match_substring(column, ".")).as_py())
    widest = pc.max(pc.binary_length(column)).as_py()
    assert cells.widest() == (widest or 0)


def test_clean_columns_are_said_to_be_clean() -> None:
    cells = CellBytes(_column(["alpha", "beta", "42", "7.5"]))
    assert not cells.padded()
    assert not cells.may_be(TOKENS)
    assert not cells.zero_led().any()
