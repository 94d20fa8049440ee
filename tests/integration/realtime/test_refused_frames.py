"""What a client may not send: binary messages, binary packets and attachment headers are
refused at the door (close 1003) and kept nowhere, and every frame, not only events, counts
against the connection's rate (docs/protocol.md, "Refused frames and packets")."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pytest

from tests.integration.realtime.conftest import StartServer, shared_server
from tests.integration.realtime.support import Seed, SeedUser, rss_bytes
from tests.integration.realtime.wire import BINARY, CLOSE, RawWebSocket, frame, outcome, text
from tests.support.services import ServerProcess

pytestmark = pytest.mark.slow


async def write_all(ws: RawWebSocket, data: bytes) -> None:
    """Write what the server may stop reading half-way: a reset is what it may answer."""
    try:
        ws.writer.write(data)
        await ws.writer.drain()
    except ConnectionError:
        pass


async def test_binary_attachments_are_refused_and_kept_nowhere(
    seed: Seed, start_server: StartServer
) -> None:
    alice = seed.user("alice")
    room = f"meeting:{seed.meeting(seed.project(alice), alice)}"
    server = start_server()
    sockets = 8
    chunk = b"\x07" * 60_000
    # Each socket announces ten billion attachments, then sends 40 binary frames of 60 KB:
    # 19 MB in all, which python-socketio's reassembly would keep.
    ws = await RawWebSocket.open(server.url, alice.token)
    ws.writer.write(text(f'421["join",{{"room":"{room}"}}]'))
    assert (await outcome(ws, 1))[0] == "ack"  # a good packet first: the connection is read
    ws.close()
    before = rss_bytes(server.proc.pid)
    peers = [await RawWebSocket.open(server.url, alice.token) for _ in range(sockets)]
    header = text(f'459999999999-["message",{{"room":"{room}","text":"x"}}]')
    await asyncio.gather(*(write_all(p, header + frame(BINARY, chunk) * 40) for p in peers))
    outcomes = await asyncio.gather(*(outcome(p, None) for p in peers))
    assert all(o == ("close", 1003) for o in outcomes), outcomes
    for peer in peers:
        peer.close()
    grown = rss_bytes(server.proc.pid) - before
    assert grown < 8 * 1024 * 1024, f"the server grew by {grown / 2**20:.1f} MiB"
    assert "Traceback" not in server.log()


# Each refused frame, and whether it must be refused as binary (1003) rather than as a
# malformed packet (1003 or 1002): a binary message and every packet with an attachment
# count. Said here, not read off the frame's bytes, which its random mask makes vary.
REFUSED = [
    (frame(BINARY, b"\x00\x01"), True),  # a binary message
    (text('451-["message",{"_placeholder":true,"num":0}]'), True),  # a binary event header
    (text('4612-[{"_placeholder":true,"num":0}]'), True),  # a binary ack header
    (text('421-["message",{}]'), True),  # an attachment count on a plain event
    (text('45["message",{}]'), False),  # a binary event without a count
    (text("b" + "AAEC"), False),  # Engine.IO's base64 binary message (long-polling's form)
]


@dataclass
class Door:
    server: ServerProcess
    users: list[SeedUser]  # one per refused packet, in REFUSED's order


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    seed = Seed()
    users = [seed.user(f"alice-{n}") for n in range(len(REFUSED))]
    with shared_server(seed, tmp_path_factory.mktemp("door")) as server:
        yield Door(server, users)


@pytest.mark.parametrize("case", range(len(REFUSED)), ids=[
    "binary-frame", "binary-event", "binary-ack", "event-with-count", "binary-no-count",
    "base64-binary"])
async def test_binary_is_refused_at_the_door(door: Door, case: int) -> None:
    alice = door.users[case]
    bad, as_binary = REFUSED[case]
    for token in (alice.token, None):  # connected to the namespace, and before any CONNECT
        ws = await RawWebSocket.open(door.server.url, token)
        await write_all(ws, bad)
        result = await outcome(ws, None)
        ws.close()
        assert result[0] == "close" and result[1] in (1003, 1002), result
        if as_binary:
            assert result == ("close", 1003)


async def test_every_frame_counts_against_the_rate(seed: Seed,
                                                  start_server: StartServer) -> None:
    alice = seed.user("alice")
    server = start_server(socket_events_per_second="1", socket_event_burst="5",
                          socket_abuse_disconnect_after="10")
    # Frames that are not events (Engine.IO NOOPs here) take the same tokens: a flood of them
    # ends in a close for abuse, connected or not.
    for token in (alice.token, None):
        ws = await RawWebSocket.open(server.url, token)
        await write_all(ws, text("6") * 200)
        assert await outcome(ws, None) == ("close", 1008)
        ws.close()


async def test_one_session_per_websocket(seed: Seed, start_server: StartServer) -> None:
    alice = seed.user("alice")
    server = start_server()
    ws = await RawWebSocket.open(server.url, None)
    connect = text("40" + orjson.dumps({"token": alice.token}).decode())
    await write_all(ws, connect + connect)  # the second before the first is answered
    answers: list[bytes] = []
    while True:
        opcode, payload = await ws.recv()
        if opcode == CLOSE:
            break
        answers.append(payload)
    assert int.from_bytes(payload[:2], "big") == 1002
    assert sum(a.startswith(b"40{") for a in answers) <= 1, answers
    ws.close()


async def test_a_connect_brings_no_fresh_burst(seed: Seed, start_server: StartServer) -> None:
    alice = seed.user("alice")
    server = start_server(socket_events_per_second="0.01", socket_event_burst="5",
                          socket_abuse_disconnect_after="50")
    ws = await RawWebSocket.open(server.url, None)
    # The burst is spent before the CONNECT (frames count from the first one on) ...
    await write_all(ws, text("6") * 5)
    await write_all(ws, text("40" + orjson.dumps({"token": alice.token}).decode()))
    _, connected = await ws.recv()
    assert connected.startswith(b"40{"), connected
    # ... so the first event after it is over the rate: the bucket is the WebSocket's.
    await write_all(ws, text('421["leave",{"room":"project:x"}]'))
    result = await outcome(ws, 1)
    assert result[0] == "ack" and result[1]["error"]["code"] == "rate_limited", result  # type: ignore[index]
    ws.close()
