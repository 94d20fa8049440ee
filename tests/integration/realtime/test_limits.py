"""Each limit does what it says, and the server stays healthy for everyone else."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
import websockets

from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, Sock, metric, redis_emitter
from tests.support.services import RedisServer

pytestmark = pytest.mark.slow


async def test_oversized_payload(seed: Seed, start_server: StartServer,
                                 socks: Callable[[], Sock]) -> None:
    alice, bob = seed.user("alice"), seed.user("bob")
    room = f"meeting:{seed.meeting(seed.project(alice, bob), alice)}"
    server = start_server(socket_max_payload_bytes="2048", meeting_message_max_chars="100")
    a = await socks().connect(server.url, alice.token)
    b = await socks().connect(server.url, bob.token)
    await a.join(room)
    await b.join(room)

    too_long = await a.call("message", {"room": room, "text": "x" * 101})
    assert too_long["error"]["code"] == "payload_too_large"
    await a.client.emit("message", {"room": room, "text": "y" * 5000})
    await a.wait_for(lambda: not a.client.connected)

    ok = await b.call("message", {"room": room, "text": "still here"})
    assert ok["ok"] is True
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{server.url}/health/live")).status_code == 200


LIMIT = 2048


def frame_of(size: int, room: str) -> str:
    """A Socket.IO event with an ack id, padded to exactly `size` bytes on the wire."""
    head, tail = '421["typing",{"room":"' + room + '","typing":true,"pad":"', '"}]'
    frame = head + "x" * (size - len(head) - len(tail)) + tail
    assert len(frame.encode()) == size
    return frame


async def test_the_frame_limit_is_exact(seed: Seed, start_server: StartServer) -> None:
    alice = seed.user("alice")
    room = f"project:{seed.project(alice)}"
    server = start_server(socket_max_payload_bytes=str(LIMIT))
    ws = await websockets.connect(server.url.replace("http", "ws")
                                  + "/socket.io/?EIO=4&transport=websocket")
    opened = orjson.loads(str(await ws.recv())[1:])
    assert opened["maxPayload"] == LIMIT
    await ws.send("40" + orjson.dumps({"token": alice.token}).decode())
    assert str(await ws.recv()).startswith("40")

    await ws.send(frame_of(LIMIT, room))  # at the limit: handled (the pad is not a field)
    ack = orjson.loads(str(await asyncio.wait_for(ws.recv(), 10))[3:])[0]
    assert ack["error"]["code"] == "validation_error"
    await ws.send(frame_of(LIMIT + 1, room))  # one byte more: the connection is closed
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    assert ws.close_code == 1009
    assert await metric(server.url, "roomcast_oversized_frames_total") == 1


async def test_event_flood(seed: Seed, start_server: StartServer,
                           socks: Callable[[], Sock]) -> None:
    alice, bob = seed.user("alice"), seed.user("bob")
    room = f"project:{seed.project(alice, bob)}"
    server = start_server(socket_events_per_second="2", socket_event_burst="5",
                          socket_abuse_disconnect_after="10")
    flooder = await socks().connect(server.url, alice.token)
    other = await socks().connect(server.url, bob.token)
    await flooder.join(room)
    await other.join(room)

    acks: list[object] = []
    for _ in range(12):
        acks.append(await flooder.call("typing", {"room": room, "typing": True}))
    codes = [a["error"]["code"] if not a["ok"] else "ok" for a in acks]  # type: ignore[index]
    assert "rate_limited" in codes and codes[0] == "ok"
    for _ in range(20):
        if not flooder.client.connected:
            break
        await flooder.client.emit("typing", {"room": room, "typing": True})
    await flooder.wait_for(lambda: not flooder.client.connected)
    assert flooder.named("session:ending")[0]["code"] == "rate_limited"
    assert (await other.call("presence:set", {"room": room, "status": "away"}))["ok"] is True


async def raw_silent_client(url: str, token: str, room: str) -> websockets.ClientConnection:
    """A WebSocket client that joins a room, then never reads again."""
    ws_url = url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    ws = await websockets.connect(ws_url, max_size=None, max_queue=1)
    assert str(await ws.recv()).startswith("0")
    await ws.send("40" + orjson.dumps({"token": token}).decode())
    assert str(await ws.recv()).startswith("40")
    await ws.send("421" + orjson.dumps(["join", {"room": room}]).decode())
    assert str(await ws.recv()).startswith("431")
    return ws


async def test_slow_consumer(seed: Seed, start_server: StartServer, socks: Callable[[], Sock],
                             rt_redis: RedisServer, tmp_path: Path) -> None:
    alice, bob = seed.user("alice"), seed.user("bob")
    room = f"project:{seed.project(alice, bob)}"
    server = start_server(redis_url=rt_redis.url, socket_outbound_queue="20")
    reader = await socks().connect(server.url, alice.token)
    await reader.join(room)
    silent = await raw_silent_client(server.url, bob.token, room)

    blob = "z" * 60_000
    async with redis_emitter(rt_redis.url, tmp_path) as emitter:
        offsets = [await emitter.emit(room, "job.progress", {"blob": blob}) for _ in range(300)]
    left = await reader.wait_for(lambda: reader.named("presence:left"), within=60)
    assert left == [{"room": room, "user_id": bob.id}]
    got = await reader.wait_for(lambda: len(reader.named("job.progress")) == 300 and
                                reader.named("job.progress"), within=60)
    assert [g["offset"] for g in got] == offsets
    assert await metric(server.url, "roomcast_slow_client_disconnects_total") == 1
    # It stopped reading, so it cannot be told; the server says why in its log and metrics.
    assert await metric(server.url,
                        'roomcast_session_endings_total{code="slow_consumer"}') == 1
    assert "slow_consumer" in server.log()
    await silent.close()
    await asyncio.sleep(0)


async def test_a_burst_over_the_queue_tells_the_client_why(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer,
    tmp_path: Path,
) -> None:
    alice = seed.user("alice")
    room = f"project:{seed.project(alice)}"
    # A socket upgraded from polling writes from a task of its own: a burst that arrives at
    # once fills its queue while the connection itself still takes writes.
    server = start_server(redis_url=rt_redis.url, socket_outbound_queue="5",
                          socket_allow_polling="true")
    sock = await socks().connect(server.url, alice.token, ("polling", "websocket"))
    assert sock.client.transport() == "websocket"
    await sock.join(room)
    async with redis_emitter(rt_redis.url, tmp_path) as emitter:
        await asyncio.gather(*(emitter.emit(room, "job.progress", {"n": n}) for n in range(50)))
    await sock.wait_for(lambda: not sock.client.connected)
    assert [e["code"] for e in sock.named("session:ending")] == ["slow_consumer"]
    assert await metric(server.url,
                        'roomcast_session_endings_total{code="slow_consumer"}') == 1
