"""Faults with real processes under traffic: a `roomcast serve` SIGKILLed (its clients move to
another process and recover everything), Redis killed and restarted empty (history that is gone
is said to be gone, nothing crashes, service resumes)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.errors import ServiceUnavailable
from realtime.emitter import RedisEmitter
from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import (
    Seed,
    SeedUser,
    Sock,
    processed,
    redis_emitter,
)
from tests.integration.realtime.test_outage import connect_when_up
from tests.support.services import RedisServer, start_redis

pytestmark = pytest.mark.slow


async def publish(emitter: RedisEmitter, room: str, count: int, sent: list[int],
                  halfway: asyncio.Event) -> None:
    """A worker's stream of job events; each offset Redis took is kept in `sent`."""
    for n in range(count):
        with contextlib.suppress(ServiceUnavailable):  # Redis away: that event is not sent
            sent.append(await emitter.emit(room, "job.progress", {"n": n}))
        if n == count // 2:
            halfway.set()
        await asyncio.sleep(0.005)


async def publish_until_halfway(emitter: RedisEmitter, room: str, count: int,
                                sent: list[int]) -> asyncio.Task[None]:
    """Start publishing `count` events; returns once half are out, the rest still coming."""
    halfway = asyncio.Event()
    publishing = asyncio.create_task(publish(emitter, room, count, sent, halfway))
    await halfway.wait()
    return publishing


async def readers_in(socks: Callable[[], Sock], urls: list[str], users: list[SeedUser],
                     room: str) -> list[Sock]:
    """One socket per user in the room, spread over the servers."""
    readers = [await socks().connect(urls[i % len(urls)], user.token)
               for i, user in enumerate(users)]
    for sock in readers:
        await sock.join(room)
    return readers


def last_of(sock: Sock, room: str) -> dict[str, Any]:
    """The last stored event the socket had of the room's first epoch (its first history)."""
    events = [d for _, d in sock.events if isinstance(d, dict) and d.get("room") == room
              and "offset" in d]
    return [e for e in events if e["epoch"] == events[0]["epoch"]][-1]


async def test_a_killed_server_s_clients_recover_everything_on_another(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer,
    tmp_path: Path, long_form: bool,
) -> None:
    events, readers = (3000, 20) if long_form else (400, 5)
    users = [seed.user() for _ in range(readers)]
    room = f"project:{seed.project(*users)}"
    doomed, survivor = start_server.many(2, redis_url=rt_redis.url)
    first = await readers_in(socks, [doomed.url], users, room)
    sent: list[int] = []
    async with redis_emitter(rt_redis.url, tmp_path) as emitter:
        publishing = await publish_until_halfway(emitter, room, events, sent)
        doomed.kill()  # SIGKILL: no goodbye to anyone
        for sock in first:
            await sock.wait_for(lambda s=sock: not s.client.connected)
        moved = []
        for user, sock in zip(users, first, strict=True):
            seen = last_of(sock, room)
            again = await socks().connect(survivor.url, user.token)
            ack = await again.join(room, since=seen["offset"], epoch=seen["epoch"])
            assert ack["recovered"] is True, ack
            moved.append((sock, again, seen["offset"]))
        await publishing
    assert len(sent) == events
    for sock, again, since in moved:
        await again.wait_for(lambda s=again: s.offsets(room) and max(s.offsets(room)) == sent[-1])
        before = processed(sock.offsets(room), 0)
        assert before == list(range(1, since + 1))
        assert processed(again.offsets(room), since) == list(range(since + 1, sent[-1] + 1))
    assert "Traceback" not in survivor.log()


async def test_redis_restarted_empty_under_load(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], tmp_path: Path,
    long_form: bool,
) -> None:
    events = 2000 if long_form else 300
    users = [seed.user() for _ in range(3)]
    room = f"project:{seed.project(*users)}"
    redis = start_redis()
    try:
        servers = start_server.many(2, redis_url=redis.url)
        readers = await readers_in(socks, [s.url for s in servers], users, room)
        sent: list[int] = []
        async with redis_emitter(redis.url, tmp_path) as emitter:
            publishing = await publish_until_halfway(emitter, room, events, sent)
            redis.kill()
            redis = start_redis(redis.port)  # empty: every room starts a new epoch
            await publishing
        # Each reader was told its history is gone (or lost its connection with Redis's).
        for sock in readers:
            await sock.wait_for(lambda s=sock: not s.client.connected, within=60)
            endings = [e["code"] for e in sock.named("session:ending")]
            assert endings in ([], ["missed_events"]), endings
        for user, sock, server in zip(users, readers, servers * 2, strict=False):
            seen = last_of(sock, room)
            again = await connect_when_up(socks, server.url, user.token, within=60)
            ack = await again.join(room, since=seen["offset"], epoch=seen["epoch"])
            assert (ack["recovered"], ack["replayed"]) == (False, 0), ack
            assert ack["epoch"] != seen["epoch"]
            said = await again.call("typing", {"room": room, "typing": True})
            assert said == {"ok": True}  # the service is back
        for server in servers:
            assert server.proc.poll() is None
            assert "Traceback" not in server.log()
    finally:
        redis.kill()
