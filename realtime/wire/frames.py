"""RFC 6455 frames: the server's one codec (no upstream code; websockets' parser is the
reference it is fuzzed against in tests/canary/test_frames_fuzz.py).

The server writes unmasked, unfragmented frames (`ws_frame`) and reads a frame's header
(`frame_header`) on its fast path (realtime/wire/uvicorn_protocol.py). `encode_frame` lays out
any frame, masked or not, fragment or not, so tests and benchmarks build their client frames
with the same code the server reads them with.
"""

from __future__ import annotations

from websockets.speedups import apply_mask

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
FIN, MASKED = 0x80, 0x80
TEXT_FIN = FIN | TEXT  # the first byte of an unfragmented text frame without extension bits
MESSAGE = "4"  # the Engine.IO MESSAGE packet type that prefixes every Socket.IO packet


def encode_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None,
                 rsv: int = 0) -> bytes:
    """One frame as RFC 6455 lays it out; masked with the 4-byte `mask` when one is given."""
    head = bytes(((FIN if fin else 0) | rsv << 4 | opcode,))
    size, mask_bit = len(payload), MASKED if mask is not None else 0
    if size < 126:
        head += bytes((mask_bit | size,))
    elif size < 65536:
        head += bytes((mask_bit | 126,)) + size.to_bytes(2, "big")
    else:
        head += bytes((mask_bit | 127,)) + size.to_bytes(8, "big")
    if mask is None:
        return head + payload
    return head + mask + apply_mask(payload, mask)


def ws_frame(data: str | bytes) -> bytes:
    """One unmasked, unfragmented server frame: text for a str, binary for bytes."""
    if isinstance(data, str):
        return encode_frame(TEXT, data.encode())
    return encode_frame(BINARY, data)


def text_frame(frame: str) -> bytes:
    """The text frame carrying a Socket.IO packet as an Engine.IO message."""
    return ws_frame(MESSAGE + frame)


def frame_header(data: bytes, start: int = 0) -> tuple[int, int] | None:
    """(payload length, where the mask or payload starts) of the frame at `start` of `data`,
    or None while its header is incomplete. The first byte (FIN, RSV, opcode) and the mask bit
    are `data[start]` and `data[start + 1] & MASKED`."""
    size = len(data)
    if size - start < 2:
        return None
    length, head = data[start + 1] & 0x7F, start + 2
    if length == 126:
        if size - start < 4:
            return None
        return int.from_bytes(data[head:head + 2], "big"), head + 2
    if length == 127:
        if size - start < 10:
            return None
        return int.from_bytes(data[head:head + 8], "big"), head + 8
    return length, head
