"""The embedded store's unit on disk: a frame of a body length, a CRC-32 of the body, and the
body (one BSON document). Journals and snapshots are sequences of frames, so a reader knows
where each one ends and whether it arrived whole."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import bson
from bson.codec_options import CodecOptions

HEADER = struct.Struct("<II")  # body length, crc32(body)
# The in-memory engine keeps datetimes naive (in UTC), as MongoDB stores them.
CODEC: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=False)


def frame(body: dict[str, Any]) -> bytes:
    encoded = bson.encode(body, codec_options=CODEC)
    return HEADER.pack(len(encoded), zlib.crc32(encoded)) + encoded


def decode(body: bytes) -> dict[str, Any]:
    return bson.decode(body, codec_options=CODEC)


@dataclass(frozen=True)
class BadFrame(Exception):
    """Where the readable frames stop, and why; `at_end` when the bad frame is the file's last
    (what a write cut short by a crash leaves)."""

    offset: int
    reason: str
    at_end: bool


def iter_frames(data: bytes, start: int = 0) -> Iterator[bytes]:
    """Each frame's body in order from `start` (where a frame begins); raises BadFrame at the
    first one that is not whole."""
    offset, end = start, len(data)
    while offset < end:
        if end - offset < HEADER.size:
            raise BadFrame(offset, "the file ends inside a frame header", at_end=True)
        length, crc = HEADER.unpack_from(data, offset)
        start = offset + HEADER.size
        if start + length > end:
            raise BadFrame(offset, f"a {length}-byte frame is cut short by the end of the file",
                           at_end=True)
        body = data[start:start + length]
        if zlib.crc32(body) != crc:
            raise BadFrame(offset, "a frame's checksum does not match its bytes",
                           at_end=start + length == end)
        yield body
        offset = start + length
