"""A mass disconnect: hundreds of sockets of a room drop at once, and presence (in Redis and as
the room's remaining sockets see it) is cleared of every one of them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from load.client import SioClient
from realtime.emitter import KEY_PREFIX
from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, SeedUser, Sock
from tests.support.services import RedisServer

pytestmark = pytest.mark.slow

USERS = 10
BATCH = 100  # sockets connecting at once


async def crowd(url: str, users: list[SeedUser], room: str, count: int) -> list[SioClient]:
    clients: list[SioClient] = []
    for start in range(0, count, BATCH):
        batch = [SioClient() for _ in range(start, min(count, start + BATCH))]
        await asyncio.gather(*(c.connect(url, auth={"token": users[(start + i) % len(users)]
                                                    .token})
                               for i, c in enumerate(batch)))
        acks = await asyncio.gather(*(c.call("join", {"room": room}, within=60) for c in batch))
        assert all(ack and ack[0].get("ok") for ack in acks), acks[:3]
        clients.extend(batch)
    return clients




@pytest.mark.parametrize("backend", ["redis", "embedded"])
async def test_a_mass_disconnect_clears_presence(
    backend: str, seed: Seed, start_server: StartServer, socks: Callable[[], Sock],
    rt_redis: RedisServer, long_form: bool,
) -> None:
    count = 2000 if long_form else 300
    users = [seed.user() for _ in range(USERS)]
    watcher_user = seed.user("watcher")
    room = f"project:{seed.project(watcher_user, *users)}"
    env = {"redis_url": rt_redis.url} if backend == "redis" else {}
    server = start_server(socket_outbound_queue=str(count * 4), **env)
    watcher = await socks().connect(server.url, watcher_user.token)
    await watcher.join(room)
    clients = await crowd(server.url, users, room, count)
    joined = await watcher.join(room)  # a repeated join answers with the snapshot
    assert {p["user_id"]: p["connections"] for p in joined["presence"]} == {
        watcher_user.id: 1, **{u.id: count // USERS for u in users}}

    for client in clients:
        client.abort()  # dropped at once, without a Socket.IO disconnect

    gone = {u.id for u in users}
    await watcher.wait_for(lambda: {e["user_id"] for e in watcher.named("presence:left")}
                           >= gone, within=120)
    snapshot = await watcher.join(room)
    assert [p["user_id"] for p in snapshot["presence"]] == [watcher_user.id]
    if backend == "redis":
        redis = Redis.from_url(rt_redis.url)
        try:
            assert await redis.hlen(f"{KEY_PREFIX}pres:{room}") == 1
            assert await redis.hgetall(f"{KEY_PREFIX}presc:{room}") == {
                watcher_user.id.encode(): b"1"}
        finally:
            await redis.aclose()
    assert "Traceback" not in server.log()
