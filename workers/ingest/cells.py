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
# Stands for "no byte here" (past a cell's end, or a null): a printable byte that is no
# digit, sign or space, so that a short cell never looks padded or zero-led.
NO_BYTE = ord("~")
# The bytes a trimmed cell can start and end with lie in PLAIN: outside are ASCII whitespace
# and control bytes, and every byte of a multi-byte character (Unicode spaces are all
# non-ASCII). A superset of what `utf8_trim_whitespace` removes: a cell with an end outside
# may still be unpadded.
PLAIN = (0x21, 0x7E)
ZERO, NINE = ord("0"), ord("9")


def _digit(byte: Bytes) -> Mask:
    found: Mask = (byte >= ZERO) & (byte <= NINE)
    return found


class _Chunk:
    def __init__(self, chunk: pa.Array) -> None:
        size = len(chunk)
        wide = pa.types.is_large_string(chunk.type) or pa.types.is_large_binary(chunk.type)
        offsets_buffer, data_buffer = chunk.buffers()[1:3]
        self.chunk = chunk
        offsets: npt.NDArray[np.integer[Any]] = np.frombuffer(
            offsets_buffer, np.dtype(np.int64 if wide else np.int32))
        self.offsets = offsets[chunk.offset:chunk.offset + size + 1]
        self.data: Bytes = (np.frombuffer(data_buffer, np.uint8) if data_buffer is not None
                            else np.zeros(0, np.uint8))
        self._lengths: npt.NDArray[np.integer[Any]] | None = None

    def lengths(self) -> npt.NDArray[np.integer[Any]]:
        if self._lengths is None:
            self._lengths = np.diff(self.offsets)
            if self.chunk.null_count:
                self._lengths[~self.chunk.is_valid().to_numpy(zero_copy_only=False)] = 0
        return self._lengths

    def byte_at(self, position: int) -> Bytes:
        """The byte at `position` of each cell (negative: from its end), NO_BYTE past it."""
        if not len(self.data):
            return np.full(len(self.offsets) - 1, NO_BYTE, np.uint8)
        ends = self.offsets[1:] if position < 0 else self.offsets[:-1]
        # Clipped reads stay inside the buffer; what they read for a short cell is replaced.
        found: Bytes = np.take(self.data, ends + position, mode="clip")
        found[self.lengths() < (position + 1 if position >= 0 else -position)] = NO_BYTE
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
        self._bytes: dict[int, Bytes] = {}

    def widest(self) -> int:
        """The most bytes in a cell (0 for a column without cells)."""
        return max((int(np.max(c.lengths())) for c in self._chunks if len(c.chunk)), default=0)

    def padded(self) -> bool:
        """Whether trimming could change a cell (False: it certainly cannot)."""
        # Minimum and maximum: reductions without a temporary array.
        return any(len(b) and (np.min(b) < PLAIN[0] or np.max(b) > PLAIN[1])
                   for b in (self._byte(0), self._byte(-1)))

    def may_be(self, tokens: Iterable[str]) -> bool:
        """Whether a cell could equal one of `tokens` (False: none does)."""
        encoded = {t.encode() for t in tokens}
        if b"" in encoded and any(np.any(c.lengths() == 0) for c in self._chunks):
            return True
        first = self._byte(0)
        hits = np.zeros(len(first), np.bool_)
        for start in {t[0] for t in encoded if t}:
            hits |= first == start
        if not hits.any():
            return False
        lengths = np.concatenate([c.lengths() for c in self._chunks])[hits]
        return bool(np.isin(lengths, [len(t) for t in encoded]).any())

    def zero_led(self) -> Mask:
        """The cells that may be an integer written with a leading zero: an optional sign,
        `0`, then a digit. The exact pattern is left to the caller, on these cells only."""
        first, second = self._byte(0), self._byte(1)
        plain: Mask = (first == ZERO) & _digit(second)
        signed = ((first == ord("+")) | (first == ord("-"))) & (second == ZERO)
        if np.any(signed):
            plain |= signed & _digit(self._byte(2))
        return plain

    def dotted(self) -> bool:
        """Whether some non-null cell holds a `.`."""
        return any(c.dotted() for c in self._chunks)

    def _byte(self, position: int) -> Bytes:
        if position not in self._bytes:
            parts = [c.byte_at(position) for c in self._chunks]
            self._bytes[position] = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
        return self._bytes[position]
