"""A connection's incoming frames as Roomcast's transport reads them (realtime/transport.py):
text frames however TCP splits or joins them, every other frame through websockets' parser
with the protocol's replies and close codes. The client here writes raw bytes on a socket."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from urllib.parse import urlsplit

import orjson
import pytest

from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed

pytestmark = pytest.mark.slow

TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True,
          rsv: int = 0) -> bytes:
    """One client frame, as RFC 6455 lays it out."""
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    size, mask_bit = len(payload), 0x80 if masked else 0
    if size < 126:
        head += bytes([mask_bit | size])
    elif size < 65536:
        head += bytes([mask_bit | 126]) + size.to_bytes(2, "big")
    else:
        head += bytes([mask_bit | 127]) + size.to_bytes(8, "big")
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


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
    async def open(cls, url: str, token: str) -> RawWebSocket:
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
        ws.writer.write(text("40" + orjson.dumps({"token": token}).decode()))
        opcode, connected = await ws.recv()
        assert connected.startswith(b"40{"), connected
        return ws

    async def recv(self) -> tuple[int, bytes]:
        """The next server frame (servers do not mask); Engine.IO pings are answered."""
        while True:
            head = await asyncio.wait_for(self.reader.readexactly(2), 10)
            size = head[1] & 0x7F
            if size == 126:
                size = int.from_bytes(await self.reader.readexactly(2), "big")
            elif size == 127:
                size = int.from_bytes(await self.reader.readexactly(8), "big")
            payload = await self.reader.readexactly(size)
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


async def test_text_frames_are_read_however_they_arrive(seed: Seed,
                                                        start_server: StartServer) -> None:
    alice = seed.user("alice")
    room = f"meeting:{seed.meeting(seed.project(alice), alice)}"
    server = start_server()
    ws = await RawWebSocket.open(server.url, alice.token)

    def event(ack_id: int, name: str, data: dict[str, object]) -> bytes:
        return text(f"42{ack_id}" + orjson.dumps([name, data]).decode())

    # Split byte by byte: one frame across many reads.
    await ws.write_in_pieces(event(1, "join", {"room": room}), 1)
    # Joined: three frames in one write, one with a two-byte length (300 characters), and a
    # ping between them, which websockets answers.
    long_text = "é" * 150
    ws.writer.write(event(2, "message", {"room": room, "text": "first"})
                    + frame(PING, b"are you there")
                    + event(3, "message", {"room": room, "text": long_text})
                    + event(4, "typing", {"room": room, "typing": True}))
    # A text message in two fragments (websockets' parser), then a plain one: in order.
    fragmented = f'425["message",{{"room":"{room}","text":"in two parts"}}]'.encode()
    await ws.write_in_pieces(frame(TEXT, fragmented[:10], fin=False)
                             + frame(CONT, fragmented[10:])
                             + event(6, "message", {"room": room, "text": "last"}), 7)

    acks, pong, texts = [], None, []
    while len(acks) < 6:
        opcode, payload = await ws.recv()
        if opcode == PONG:
            pong = payload
            continue
        packet = payload.decode()
        ack = ack_of(packet)
        if ack is not None:
            acks.append(ack)
        elif packet.startswith('42["message"'):
            texts.append(orjson.loads(packet[2:])[1]["text"])
    # Every event was read whole and handled (a message sent before its join would be
    # refused); a message's ack waits for the store, so `typing`'s may come before it.
    assert sorted(n for n, _ in acks) == [1, 2, 3, 4, 5, 6]
    assert all(ack["ok"] for _, ack in acks), acks
    assert pong == b"are you there"
    while len(texts) < 4:  # the echo of each message to its sender: read in the order sent
        opcode, payload = await ws.recv()
        if payload.startswith(b'42["message"'):
            texts.append(orjson.loads(payload[2:])[1]["text"])
    assert texts == ["first", long_text, "in two parts", "last"]
    ws.close()


@pytest.mark.parametrize(("bad", "code"), [
    (frame(TEXT, b'42["typing",\xff]'), 1007),  # not UTF-8
    (frame(TEXT, b'42["typing",{}]', masked=False), 1002),  # a client frame must be masked
    (frame(TEXT, b'42["typing",{}]', rsv=4), 1002),  # an extension bit no extension set
    (frame(TEXT, b"42[", fin=False) + text('42["typing",{}]'), 1002),  # not a continuation
    (frame(BINARY, b"\x00" * 5000), 1009),  # over SOCKET_MAX_PAYLOAD_BYTES
], ids=["not-utf8", "unmasked", "rsv-bit", "no-continuation", "too-large"])
async def test_a_bad_frame_closes_with_the_protocol_code(
    seed: Seed, start_server: StartServer, bad: bytes, code: int
) -> None:
    alice = seed.user("alice")
    room = f"project:{seed.project(alice)}"
    server = start_server(socket_max_payload_bytes="4096")
    ws = await RawWebSocket.open(server.url, alice.token)
    ws.writer.write(text(f'421["join",{{"room":"{room}"}}]'))
    assert (await ws.acks(1))[0][1]["ok"]  # a good frame first: the connection is read here
    ws.writer.write(bad)
    assert await ws.close_code() == code
    ws.close()
