"""A modest version of the load that breaks python-socketio's Redis manager: two processes,
200 clients in rooms of 10, every client sending one message a second for several seconds.
Nothing may be lost (checked by offset), and no delivery may fall behind by a backlog."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, Sock
from tests.support.services import RedisServer

pytestmark = pytest.mark.slow

CLIENTS = 200
ROOM_SIZE = 10
SECONDS = 6  # each client sends one message a second for this long
# Not a latency target: a delivery this late means messages pile up instead of flowing.
BACKLOG = 5.0


async def talk(client: Sock, room: str, me: int, start: float) -> list[dict[str, object]]:
    """One message a second, spread over the second by client so the load is even."""
    acks = []
    for second in range(SECONDS):
        due = start + second + (me % 50) / 50
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        text = f"{me}/{second}/{time.monotonic()}"
        acks.append(await client.call("message", {"room": room, "text": text}))
    return acks


def lags(client: Sock) -> list[float]:
    return [at - float(data["text"].split("/")[2])
            for (name, data), at in zip(client.events, client.received_at, strict=True)
            if name == "message"]


async def test_rooms_of_ten_across_two_processes(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer
) -> None:
    users = [seed.user() for _ in range(CLIENTS)]
    rooms = []
    for start in range(0, CLIENTS, ROOM_SIZE):
        members = users[start:start + ROOM_SIZE]
        rooms.append(f"meeting:{seed.meeting(seed.project(*members), members[0])}")
    servers = start_server.many(2, redis_url=rt_redis.url)

    clients = [socks() for _ in users]
    await asyncio.gather(*(
        client.connect(servers[i % 2].url, user.token)
        for i, (client, user) in enumerate(zip(clients, users, strict=True))
    ))
    joins = await asyncio.gather(*(
        client.join(rooms[i // ROOM_SIZE]) for i, client in enumerate(clients)
    ))
    assert all(ack["ok"] for ack in joins), [a for a in joins if not a["ok"]][:3]

    start = time.monotonic() + 0.5
    acks = await asyncio.gather(*(
        talk(client, rooms[i // ROOM_SIZE], i, start) for i, client in enumerate(clients)
    ))
    refused = [a for per_client in acks for a in per_client if not a["ok"]]
    assert refused == [], refused[:3]

    expected = list(range(1, ROOM_SIZE * SECONDS + 1))
    for client in clients:
        await client.wait_for(lambda c=client: len(c.named("message")) >= len(expected),
                              within=60)
        assert [m["offset"] for m in client.named("message")] == expected
    worst = max(max(lags(client)) for client in clients)
    assert worst < BACKLOG, f"a message arrived {worst:.1f} s after it was sent"
    assert all(server.proc.poll() is None for server in servers)
