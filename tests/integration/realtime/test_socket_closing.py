"""WebSockets closed when they should be: after the abuse disconnect (no fresh burst on the same
connection), when no Socket.IO CONNECT comes in time, and promptly after the client's own close
packet, once the acks of its events are sent."""

from __future__ import annotations

import orjson
import pytest

from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed
from tests.integration.realtime.wire import CLOSE, TEXT, RawWebSocket, ack_of, outcome, text

pytestmark = pytest.mark.slow


async def until_closed(ws: RawWebSocket) -> tuple[list[str], dict[int, dict[str, object]], int]:
    """Every event name and ack the server sent until its close frame, and the close code."""
    events: list[str] = []
    acks: dict[int, dict[str, object]] = {}
    while True:
        opcode, payload = await ws.recv()
        if opcode == CLOSE:
            return events, acks, int.from_bytes(payload[:2], "big")
        if opcode != TEXT:
            continue
        packet = payload.decode()
        found = ack_of(packet)
        if found is not None:
            acks[found[0]] = found[1]
        elif packet.startswith("42["):
            events.append(orjson.loads(packet[2:])[0])


async def test_the_abuse_disconnect_closes_the_websocket(seed: Seed,
                                                         start_server: StartServer) -> None:
    alice = seed.user("alice")
    server = start_server(socket_events_per_second="1", socket_event_burst="5",
                          socket_abuse_disconnect_after="10")
    ws = await RawWebSocket.open(server.url, alice.token)
    flood = b"".join(text(f'42{i}["leave",{{"room":"project:x"}}]') for i in range(1, 40))
    ws.writer.write(flood)
    events, acks, code = await until_closed(ws)
    assert code == 1008
    assert "session:ending" in events
    refused = [a for a in acks.values() if a["error"]["code"] == "rate_limited"]  # type: ignore[index]
    assert len(refused) >= 10, acks
    # The connection is gone: a new CONNECT on it reaches nothing, so no fresh burst.
    try:
        ws.writer.write(text("40" + orjson.dumps({"token": alice.token}).decode()))
        ws.writer.write(text('4299["leave",{"room":"project:x"}]'))
    except ConnectionError:
        pass
    assert (await outcome(ws, 99, within=3))[0] in ("eof", "silent")
    ws.close()


async def test_a_websocket_without_connect_is_closed_after_the_timeout(
    seed: Seed, start_server: StartServer
) -> None:
    alice = seed.user("alice")
    server = start_server(socket_connect_timeout="1")
    connected = await RawWebSocket.open(server.url, alice.token)
    idle = await RawWebSocket.open(server.url, None)
    assert await outcome(idle, None) == ("close", 1008)
    idle.close()
    # The one that connected in time stays open and answers.
    connected.writer.write(text('427["leave",{"room":"project:x"}]'))
    result = await outcome(connected, 7)
    assert result[0] == "ack" and result[1]["error"]["code"] == "not_joined"  # type: ignore[index]
    connected.close()


@pytest.mark.parametrize("close_packet", ["1", "41"], ids=["engineio-close", "socketio-disconnect"])
async def test_a_client_close_packet_closes_promptly_after_the_acks(
    seed: Seed, start_server: StartServer, close_packet: str
) -> None:
    alice = seed.user("alice")
    room = f"meeting:{seed.meeting(seed.project(alice), alice)}"
    # A long ping timeout: a close that waited for the heartbeat would miss the deadline.
    server = start_server(socket_ping_timeout="60")
    ws = await RawWebSocket.open(server.url, alice.token)
    ws.writer.write(text(f'421["join",{{"room":"{room}"}}]'))
    assert (await outcome(ws, 1))[0] == "ack"
    messages = b"".join(text(f'42{i}["message",{{"room":"{room}","text":"m{i}"}}]')
                        for i in range(2, 12))
    late = text(f'4212["message",{{"room":"{room}","text":"after the close"}}]')
    ws.writer.write(messages + text(close_packet) + late)
    _, acks, code = await until_closed(ws)  # recv's own deadline: 10 s without a frame
    assert code == 1000
    assert all(acks[i]["ok"] for i in range(2, 12)), acks
    # Sent after the close packet: answered, not dropped.
    assert acks[12]["error"]["code"] == "unauthorized"  # type: ignore[index]
    ws.close()
