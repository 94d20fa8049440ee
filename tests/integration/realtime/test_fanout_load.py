"""A modest version of the load that breaks python-socketio's Redis manager: two processes,
200 clients in rooms of 10, every client talking. Nothing may be lost (checked by offset)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, Sock
from tests.support.services import RedisServer

pytestmark = pytest.mark.slow

CLIENTS = 200
ROOM_SIZE = 10
ROUNDS = 4


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

    for round_no in range(ROUNDS):
        acks = await asyncio.gather(*(
            client.call("message", {"room": rooms[i // ROOM_SIZE], "text": f"{i}/{round_no}"})
            for i, client in enumerate(clients)
        ))
        assert all(ack["ok"] for ack in acks), [a for a in acks if not a["ok"]][:3]
        await asyncio.sleep(0.5)

    expected = set(range(1, ROOM_SIZE * ROUNDS + 1))

    def complete(client: Sock) -> bool:
        return {m["offset"] for m in client.named("message")} == expected

    for client in clients:
        await client.wait_for(lambda c=client: complete(c), within=60)
        offsets = [m["offset"] for m in client.named("message")]
        assert offsets == sorted(offsets) and len(offsets) == len(expected)
    assert all(server.proc.poll() is None for server in servers)
