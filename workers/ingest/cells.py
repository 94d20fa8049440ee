"""What the cells of a text column look like, byte by byte: their lengths and the bytes at
their ends, read with NumPy from the column's Arrow buffers.

Typing asks several questions of every text column (is any cell padded with spaces, could a
cell be a null token, does a number start with a zero); asked with pyarrow compute, each is a
pass over the strings and often a copy of them. Asked here, each is a comparison of small
arrays, and the strings are only touched when the cheap answer is "maybe".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

Bytes = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]
# The bytes a trimmed cell cannot start or end with: ASCII whitespace and control bytes, and
# any byte of a multi-byte character (Unicode spaces are all non-ASCII). A superset of what
# `utf8_trim_whitespace` removes: a cell flagged here may still be unpadded.
_PLAIN = np.zeros(256, np.bool_)
_PLAIN[0x21:0x7F] = True
_DIGIT = np.zeros(256, np.bool_)
_DIGIT[ord("0"):ord("9") + 1] = True
_SIGN = np.zeros(256, np.bool_)
_SIGN[[ord("+"), ord("-")]] = True


class _Chunk:
    def __init__(self, chunk: pa.Array) -> None:
        size = len(chunk)
        wide = pa.types.is_large_string(chunk.type) or pa.types.is_large_binary(chunk.type)
        offsets_buffer, data_buffer = chunk.buffers()[1:3]
        self.chunk = chunk
        self.offsets = np.frombuffer(offsets_buffer, np.int64 if wide else np.int32)[
            chunk.offset:chunk.offset + size + 1]
        self.data: Bytes = (np.frombuffer(data_buffer, np.uint8) if data_buffer is not None
                            else np.zeros(0, np.uint8))
        self.lengths = np.diff(self.offsets)
        if chunk.null_count:
            self.lengths[~chunk.is_valid().to_numpy(zero_copy_only=False)] = 0

    def byte_at(self, position: int) -> Bytes:
        """The byte at `position` of each cell (negative: from its end), 0 past its end."""
        needed = position + 1 if position >= 0 else -position
        found = np.zeros(len(self.lengths), np.uint8)
        long_enough = self.lengths >= needed
        ends = self.offsets[1:] if position < 0 else self.offsets[:-1]
        found[long_enough] = self.data[ends[long_enough] + position]
        return found

    def dotted(self) -> bool:
        span = self.data[self.offsets[0]:self.offsets[-1]]
        if not np.any(span == ord(".")):
            return False
        # A null's slot may keep bytes: look cell by cell only when there are nulls.
        return not self.chunk.null_count or bool(
            pc.any(pc.match_substring(self.chunk, ".")).as_py())


class CellBytes:
    """Byte-level facts about a text column; each is computed on first use."""

    def __init__(self, column: pa.ChunkedArray) -> None:
        self._chunks = [_Chunk(chunk) for chunk in column.chunks]
        self.lengths: npt.NDArray[np.integer[Any]] = (
            np.concatenate([c.lengths for c in self._chunks]) if self._chunks
            else np.zeros(0, np.int64))
        self._bytes: dict[int, Bytes] = {}

    def padded(self) -> bool:
        """Whether trimming could change a cell (False: it certainly cannot)."""
        odd = ~_PLAIN[self._byte(0)] | ~_PLAIN[self._byte(-1)]
        return bool(np.any(odd & (self.lengths > 0)))

    def may_be(self, tokens: Iterable[str]) -> bool:
        """Whether a cell could equal one of `tokens` (False: none does)."""
        encoded = {t.encode() for t in tokens}
        starts = np.zeros(256, np.bool_)
        starts[[t[0] for t in encoded if t]] = True
        sized = np.zeros(int(max(map(len, encoded))) + 2, np.bool_)
        sized[[len(t) for t in encoded]] = True
        lengths = np.minimum(self.lengths, len(sized) - 1)
        maybe = sized[lengths] & (starts[self._byte(0)] | (self.lengths == 0))
        return bool(np.any(maybe))

    def zero_led(self) -> Mask:
        """The cells that may be an integer written with a leading zero: an optional sign,
        `0`, then a digit. The exact pattern is left to the caller, on these cells only."""
        first, second = self._byte(0), self._byte(1)
        plain: Mask = (first == ord("0")) & _DIGIT[second]
        signed = _SIGN[first] & (second == ord("0"))
        if np.any(signed):
            plain |= signed & _DIGIT[self._byte(2)]
        return plain

    def dotted(self) -> bool:
        """Whether some non-null cell holds a `.`."""
        return any(c.dotted() for c in self._chunks)

    def _byte(self, position: int) -> Bytes:
        if position not in self._bytes:
            parts = [c.byte_at(position) for c in self._chunks]
            self._bytes[position] = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
        return self._bytes[position]
