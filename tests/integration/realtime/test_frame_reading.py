"""A connection's incoming frames as Roomcast's transport reads them
(realtime/wire/uvicorn_protocol.py): text frames however TCP splits or joins them, every other frame
through websockets' parser with the protocol's replies and close codes. The client here writes raw
bytes on a socket."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pytest

from tests.integration.realtime.conftest import StartServer, shared_server
from tests.integration.realtime.support import Seed, SeedUser
from tests.integration.realtime.wire import (
    BINARY,
    CONT,
    PING,
    PONG,
    TEXT,
    RawWebSocket,
    ack_of,
    frame,
    text,
)
from tests.support.services import ServerProcess

pytestmark = pytest.mark.slow

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


BAD_FRAMES = [
    (frame(TEXT, b'42["typing",\xff]'), 1007),  # not UTF-8
    (frame(TEXT, b'42["typing",{}]', masked=False), 1002),  # a client frame must be masked
    (frame(TEXT, b'42["typing",{}]', rsv=4), 1002),  # an extension bit no extension set
    (frame(TEXT, b"42[", fin=False) + text('42["typing",{}]'), 1002),  # not a continuation
    (frame(BINARY, b"\x00" * 5000), 1009),  # over SOCKET_MAX_PAYLOAD_BYTES
]


@dataclass
class Reader:
    server: ServerProcess
    members: list[tuple[SeedUser, str]]  # a user and its room per bad frame, in order


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reader]:
    seed = Seed()
    users = [seed.user(f"alice-{n}") for n in range(len(BAD_FRAMES))]
    members = [(user, f"project:{seed.project(user)}") for user in users]
    with shared_server(seed, tmp_path_factory.mktemp("reader"),
                       socket_max_payload_bytes="4096") as server:
        yield Reader(server, members)


@pytest.mark.parametrize(("bad", "code"), BAD_FRAMES,
                         ids=["not-utf8", "unmasked", "rsv-bit", "no-continuation", "too-large"])
async def test_a_bad_frame_closes_with_the_protocol_code(reader: Reader, bad: bytes,
                                                         code: int) -> None:
    alice, room = reader.members[BAD_FRAMES.index((bad, code))]
    ws = await RawWebSocket.open(reader.server.url, alice.token)
    ws.writer.write(text(f'421["join",{{"room":"{room}"}}]'))
    assert (await ws.acks(1))[0][1]["ok"]  # a good frame first: the connection is read here
    ws.writer.write(bad)
    assert await ws.close_code() == code
    ws.close()
