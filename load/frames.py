"""RFC 6455 framing, client side: masked frames out, a streaming parser for frames in.

Written here rather than taken from `websockets` because a load generator holds thousands of
connections: a bare asyncio Protocol with this parser costs a few kilobytes per connection and
no task per connection.
"""

from __future__ import annotations

import base64
import os
import struct
from collections.abc import Callable

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA


class FrameError(ValueError):
    """The peer sent something that is not a valid WebSocket frame."""


def handshake_request(host: str, path: str) -> tuple[bytes, str]:
    """The HTTP upgrade request and its Sec-WebSocket-Key."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    return request.encode(), key


def encode_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """One final, masked frame (clients must mask every frame they send)."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    mask = os.urandom(4)
    return header + mask + _xor(payload, mask)


def _xor(payload: bytes, mask: bytes) -> bytes:
    # XOR as one big integer: far faster in CPython than a per-byte loop.
    if not payload:
        return b""
    size = len(payload)
    repeated = (mask * (size // 4 + 1))[:size]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(size, "big")


class FrameParser:
    """Feeds bytes in; calls `on_message(opcode, payload)` for every complete message
    (continuation frames joined)."""

    __slots__ = ("_buf", "_fragment_op", "_fragments", "_on_message")

    def __init__(self, on_message: Callable[[int, bytes], None]) -> None:
        self._buf = bytearray()
        self._fragments: list[bytes] = []
        self._fragment_op = 0
        self._on_message = on_message

    def feed(self, data: bytes) -> None:
        # Frames are read from the bytes as received; only an incomplete tail is kept for the
        # next call. Most reads hold whole frames, so most calls copy each payload once.
        if self._buf:
            self._buf += data
            data = bytes(self._buf)
            self._buf.clear()
        pos = 0
        end = len(data)
        while end - pos >= 2:
            first, second = data[pos], data[pos + 1]
            size = second & 0x7F
            head = 2
            if size == 126:
                if end - pos < 4:
                    break
                size = (data[pos + 2] << 8) | data[pos + 3]
                head = 4
            elif size == 127:
                if end - pos < 10:
                    break
                size = int.from_bytes(data[pos + 2 : pos + 10], "big")
                head = 10
            masked = second & 0x80
            if masked:
                head += 4
            if end - pos < head + size:
                break
            payload = data[pos + head : pos + head + size]
            if masked:
                payload = _xor(payload, data[pos + head - 4 : pos + head])
            pos += head + size
            self._frame(first & 0x80 != 0, first & 0x0F, payload)
        if pos < end:
            self._buf += data[pos:]

    def _frame(self, fin: bool, opcode: int, payload: bytes) -> None:
        if opcode >= OP_CLOSE:  # control frames are never fragmented
            self._on_message(opcode, payload)
        elif opcode == OP_CONT:
            if not self._fragments:
                raise FrameError("continuation frame without a start")
            self._fragments.append(payload)
            if fin:
                whole = b"".join(self._fragments)
                self._fragments = []
                self._on_message(self._fragment_op, whole)
        elif fin:
            self._on_message(opcode, payload)
        else:
            self._fragment_op = opcode
            self._fragments = [payload]
