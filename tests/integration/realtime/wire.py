"""A WebSocket client written on a raw TCP socket: it sends exactly the bytes a test writes
(bad frames included) and reads how the server answers, down to its close code."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from urllib.parse import urlsplit

import orjson

from realtime.wire.frames import BINARY, CLOSE, CONT, PING, PONG, TEXT, encode_frame, frame_header

__all__ = ["BINARY", "CLOSE", "CONT", "PING", "PONG", "TEXT"]


def frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True,
          rsv: int = 0) -> bytes:
    """One client frame (masked with a random key unless `masked` is False), laid out by the
    server's own codec."""
    return encode_frame(opcode, payload, fin=fin, mask=os.urandom(4) if masked else None,
                        rsv=rsv)


def text(packet: str) -> bytes:
    return frame(TEXT, packet.encode())


def ack_of(packet: str) -> tuple[int, dict[str, object]] | None:
    """(ack id, argument) of a Socket.IO ACK packet, None for any other packet."""
    if not packet.startswith("43"):
        return None
    digits = packet[2:packet.index("[")]
    argument: dict[str, object] = orjson.loads(packet[2 + len(digits):])[0]
    return int(digits), argument


class RawWebSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str, token: str | None) -> RawWebSocket:
        """Opened, and connected to the namespace with `token` (not at all when None)."""
        where = urlsplit(url)
        reader, writer = await asyncio.open_connection(where.hostname, where.port)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each write its own segment
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                      f"Host: {where.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert response.startswith(b"HTTP/1.1 101"), response
        ws = cls(reader, writer)
        opcode, opened = await ws.recv()
        assert opcode == TEXT and opened.startswith(b"0{"), opened
        if token is None:
            return ws
        ws.writer.write(text("40" + orjson.dumps({"token": token}).decode()))
        opcode, connected = await ws.recv()
        assert connected.startswith(b"40{"), connected
        return ws

    async def recv(self) -> tuple[int, bytes]:
        """The next server frame (servers do not mask); Engine.IO pings are answered."""
        while True:
            head = await asyncio.wait_for(self.reader.readexactly(2), 10)
            extended = {126: 2, 127: 8}.get(head[1] & 0x7F, 0)
            head += await self.reader.readexactly(extended)
            header = frame_header(head)
            assert header is not None, head
            payload = await self.reader.readexactly(header[0])
            if head[0] & 0x0F == TEXT and payload == b"2":
                self.writer.write(text("3"))
                continue
            return head[0] & 0x0F, payload

    async def acks(self, count: int) -> list[tuple[int, dict[str, object]]]:
        """The next `count` Socket.IO acks as (ack id, argument); other events are skipped."""
        found: list[tuple[int, dict[str, object]]] = []
        while len(found) < count:
            opcode, payload = await self.recv()
            ack = ack_of(payload.decode()) if opcode == TEXT else None
            if ack is not None:
                found.append(ack)
        return found

    async def close_code(self) -> int:
        """Read until the server's close frame; its status code."""
        while True:
            opcode, payload = await self.recv()
            if opcode == CLOSE:
                return int.from_bytes(payload[:2], "big")

    async def write_in_pieces(self, data: bytes, piece: int) -> None:
        for start in range(0, len(data), piece):
            self.writer.write(data[start:start + piece])
            await self.writer.drain()
            await asyncio.sleep(0.001)

    def close(self) -> None:
        self.writer.close()


async def outcome(ws: RawWebSocket, ack_id: int | None, within: float = 10) -> tuple[str, object]:
    """How the server answered: ("ack", the ack's argument) for `ack_id`, ("close", code) for
    a close frame, ("eof", None) for a connection dropped without one, ("silent", None) when
    nothing came within `within` seconds."""
    try:
        async with asyncio.timeout(within):
            while True:
                try:
                    opcode, payload = await ws.recv()
                except (asyncio.IncompleteReadError, ConnectionError):
                    return "eof", None
                if opcode == CLOSE:
                    return "close", int.from_bytes(payload[:2], "big") if payload else 1005
                found = ack_of(payload.decode()) if opcode == TEXT else None
                if found is not None and found[0] == ack_id:
                    return "ack", found[1]
    except TimeoutError:
        return "silent", None
