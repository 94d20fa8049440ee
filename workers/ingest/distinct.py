"""Distinct values of a column, counted without a hash table where the answer allows it.

pyarrow's `unique` and `value_counts` insert every value into a hash table: for a million
values the table outgrows the caches and each insert waits on memory. Numbers are counted by
sorting them instead (NumPy's sort is vectorised). Text columns whose values are all
different (names, ids, e-mails) are recognised by sorting a fingerprint of each value: when no
two fingerprints are equal, no two values are, and every value is counted once. Both answers
are exact; whenever they cannot be sure, the hash table does the work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from numpy.lib.stride_tricks import as_strided

Words = npt.NDArray[np.uint64]
Floats = npt.NDArray[np.float64]
# The text fingerprints are tried when the first values are all different.
HEAD_VALUES = 4096
# Keeps the first n bytes of a little-endian word: _KEEP[n] for n in 0..8.
_KEEP = np.array([(1 << (8 * n)) - 1 for n in range(9)], np.uint64)
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F),
        np.uint64(0x165667B19E3779F9), np.uint64(0xBF58476D1CE4E5B9))


def count_distinct(values: pa.ChunkedArray) -> int:
    """How many distinct values a column without nulls holds. Fixed-width values are sorted as
    integers of their width and the changes counted: equal bits, equal values, as in pyarrow's
    `unique` (-0.0 and 0.0 are two values, and so are NaNs of different payloads)."""
    width = values.type.bit_width if _fixed_width(values.type) else 0
    if width not in (8, 16, 32, 64):
        return len(pc.unique(values))
    flat = _flat(values, np.dtype(f"int{width}"))
    flat.sort()
    return _changes(flat)


def sorted_numbers(values: pa.ChunkedArray) -> tuple[int, Finite]:
    """For an integer or float column without nulls: how many distinct values it holds (as
    `count_distinct` counts them) and its finite values in float64, sorted (for a histogram
    without another pass). One sort serves both."""
    integer = pa.types.is_integer(values.type)
    kind = ("uint" if pa.types.is_unsigned_integer(values.type) else "int") if integer else "float"
    flat = _flat(values, np.dtype(f"{kind}{values.type.bit_width}"))
    if integer:
        flat.sort()
        return _changes(flat), Finite(flat.astype(np.float64))  # monotonic: still sorted
    # NaNs of different payloads are different values, and so are -0.0 and 0.0, though they
    # compare equal; NumPy's vectorised sort may rewrite either (its min/max steps return one
    # of two equal operands), so they are told apart before it.
    nan = np.isnan(flat)
    nans = int(np.count_nonzero(nan))
    payloads = len(np.unique(flat[nan].view(f"int{flat.dtype.itemsize * 8}"))) if nans else 0
    signs = len(np.unique(np.signbit(flat[flat == 0])))
    # With both zeros, which one is the smallest or largest value is the order's business.
    extremes = _extremes(flat) if signs == 2 else None
    flat.sort()  # NaNs last
    body = flat[:len(flat) - nans]
    distinct = _changes(body) + payloads + max(signs - 1, 0)
    finite = body[np.searchsorted(body, -np.inf, "right"):np.searchsorted(body, np.inf, "left")]
    return distinct, Finite(np.asarray(finite, np.float64), extremes)


@dataclass(frozen=True)
class Finite:
    """The finite values of a column in float64, sorted, and (when the sort alone cannot say)
    its smallest and largest as NumPy's `min` and `max` find them in the column's order."""

    ordered: Floats
    extremes: tuple[float, float] | None = None

    def histogram(self, bins: int) -> tuple[npt.NDArray[np.intp], Floats]:
        """`np.histogram(values, bins)`: the same edges, and the same counts (bins closed on
        the left, the last on both sides), found by bisection in the sorted values. A range
        too narrow to split into `bins` finite bins (a few subnormal values apart) gets as
        many as it can hold, halving the count."""
        ordered = self.ordered
        extremes = self.extremes or (ordered[0], ordered[-1])
        while True:
            try:
                edges: Floats = np.histogram_bin_edges(ordered, bins, range=extremes)
                break
            except ValueError:  # a range too narrow for that many finite bins (subnormals)
                if bins == 1:
                    raise
                bins = max(1, bins // 2)
        inner = np.searchsorted(ordered, edges[1:-1], "left")
        counts = np.diff(np.concatenate([[0], inner, [len(ordered)]]))
        return counts, edges


def _extremes(flat: npt.NDArray[np.floating[Any]]) -> tuple[float, float] | None:
    finite = np.asarray(flat[np.isfinite(flat)], np.float64)
    return (finite.min(), finite.max()) if len(finite) else None


def _flat(values: pa.ChunkedArray, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    # A copy (the buffers are read-only), which the caller sorts in place.
    return np.concatenate([np.frombuffer(chunk.buffers()[1], dtype)[
        chunk.offset:chunk.offset + len(chunk)] for chunk in values.chunks])


def _changes(ordered: npt.NDArray[Any]) -> int:
    """How many distinct values a sorted array holds."""
    if not len(ordered):
        return 0
    return 1 + int(np.count_nonzero(ordered[1:] != ordered[:-1]))


def value_counts(values: pa.ChunkedArray, limit: int) -> tuple[int, pa.StructArray]:
    """The number of distinct values of a column without nulls, and `value_counts` (values
    and counts, in order of first appearance): all of them, or, when every value is different,
    the first `limit` (each counted once), which rank the same at the top."""
    if len(values) > HEAD_VALUES and _text(values.type):
        head = pc.value_counts(values.slice(0, HEAD_VALUES))
        if len(head) == HEAD_VALUES and _all_different(values):
            first = values.slice(0, limit).combine_chunks()
            ones = pa.array(np.ones(len(first), np.int64))
            return len(values), pa.StructArray.from_arrays([first, ones], ["values", "counts"])
    counted = pc.value_counts(values)
    return len(counted), counted


def _fixed_width(data_type: pa.DataType) -> bool:
    return bool(pa.types.is_integer(data_type) or pa.types.is_floating(data_type)
                or pa.types.is_temporal(data_type))


def _text(data_type: pa.DataType) -> bool:
    return bool(pa.types.is_string(data_type) or pa.types.is_large_string(data_type)
                or pa.types.is_binary(data_type) or pa.types.is_large_binary(data_type))


def _all_different(values: pa.ChunkedArray) -> bool:
    prints = np.concatenate([_fingerprints(chunk) for chunk in values.chunks])
    prints.sort()
    return not bool(np.any(prints[1:] == prints[:-1]))


def _fingerprints(chunk: pa.Array) -> Words:
    """A 64-bit word per value made of its length and its first and last eight bytes: equal
    values, equal fingerprints (two different values may share one; then nothing is
    concluded)."""
    if not len(chunk):
        return np.zeros(0, np.uint64)
    wide = pa.types.is_large_string(chunk.type) or pa.types.is_large_binary(chunk.type)
    offsets = np.frombuffer(chunk.buffers()[1], np.int64 if wide else np.int32)[
        chunk.offset:chunk.offset + len(chunk) + 1].astype(np.int64)
    data = chunk.buffers()[2]
    padded = np.zeros(int(offsets[-1] - offsets[0]) + 8, np.uint8)
    if data is not None:
        padded[:-8] = np.frombuffer(data, np.uint8)[offsets[0]:offsets[-1]]
    offsets -= offsets[0]
    # Every eight consecutive bytes, as a row (a view: nothing is copied until rows are taken).
    windows = as_strided(padded, shape=(len(padded) - 7, 8), strides=(1, 1))
    lengths = np.diff(offsets)
    keep = _KEEP[np.minimum(lengths, 8)]
    first = _words(windows, offsets[:-1]) & keep
    last = _words(windows, np.maximum(offsets[1:] - 8, offsets[:-1])) & keep
    mixed: Words = first * _MIX[0] ^ (last * _MIX[1]) ^ (lengths.astype(np.uint64) * _MIX[2])
    mixed ^= mixed >> np.uint64(31)
    mixed *= _MIX[3]
    mixed ^= mixed >> np.uint64(29)
    return mixed


def _words(windows: npt.NDArray[Any], starts: npt.NDArray[np.int64]) -> Words:
    rows = np.ascontiguousarray(windows[starts])
    words: Words = rows.view("<u8").reshape(-1)
    return words
