"""Recovery with `since`: missed events come before live ones in every room, however many rooms
a client rejoins at once, and history that is too old is not replayed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest

from realtime.emitter import RedisEmitter
from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import (
    Seed,
    ShiftedClock,
    Sock,
    processed,
    redis_emitter,
    room_epoch,
)
from tests.support.services import RedisServer

pytestmark = pytest.mark.slow

ROOMS = 6
TRIALS = 5
MISSED = 3


async def emit_until(stop: asyncio.Event, emitter: RedisEmitter, rooms: list[str],
                     latest: dict[str, int]) -> None:
    """Keep every room busy, as a worker or other clients would while someone reconnects."""
    n = 0
    while not stop.is_set():
        offsets = await asyncio.gather(*(emitter.emit(room, "job.progress", {"n": n})
                                         for room in rooms))
        latest.update(zip(rooms, offsets, strict=True))
        n += 1
        await asyncio.sleep(0.002)


async def test_rooms_rejoined_at_once_get_their_missed_events_before_live_ones(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer,
    tmp_path: Path,
) -> None:
    user = seed.user()
    rooms = [f"project:{seed.project(user)}" for _ in range(ROOMS)]
    server = start_server(redis_url=rt_redis.url)
    latest: dict[str, int] = {}
    async with redis_emitter(rt_redis.url, tmp_path) as emitter:
        for _ in range(MISSED):
            for room in rooms:
                latest[room] = await emitter.emit(room, "job.progress", {"n": -1})
        epochs = {room: await room_epoch(rt_redis.url, room) for room in rooms}
        for trial in range(TRIALS):
            # The client last processed MISSED events ago in every room.
            since = {room: latest[room] - MISSED for room in rooms}
            stop = asyncio.Event()
            busy = asyncio.create_task(emit_until(stop, emitter, rooms, latest))
            try:
                await asyncio.sleep(0.05)
                sock = await socks().connect(server.url, user.token)
                acks = await asyncio.gather(*(sock.join(room, since=since[room],
                                                        epoch=epochs[room])
                                              for room in rooms))
                await asyncio.sleep(0.1)
            finally:
                stop.set()
                await busy
            assert all(ack["ok"] and ack["recovered"] for ack in acks), acks
            final = dict(latest)
            await sock.wait_for(lambda s=sock, f=final: all(
                s.offsets(room) and max(s.offsets(room)) == f[room] for room in rooms))
            for room in rooms:
                arrived = sock.offsets(room)
                # The replay comes first, then live events: following the protocol's rule
                # (drop what is not newer), the client processes every offset, none skipped.
                assert arrived[:MISSED] == [since[room] + k for k in range(1, MISSED + 1)], (
                    trial, room, arrived[:10])
                assert processed(arrived, since[room]) == list(
                    range(since[room] + 1, final[room] + 1)), (trial, room, arrived)
            with contextlib.suppress(Exception):
                await sock.close()


MAX_AGE = 60  # seconds of history kept (STREAM_MAX_AGE_SECONDS)


async def test_history_older_than_the_max_age_is_not_replayed(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer,
    tmp_path: Path,
) -> None:
    user = seed.user()
    room = f"project:{seed.project(user)}"
    server = start_server(redis_url=rt_redis.url, stream_max_age_seconds=str(MAX_AGE))
    # The first event is written 5 s beyond the maximum age ago, the second now: the server
    # judges both by its own (real) clock, with no waiting.
    clock = ShiftedClock(-(MAX_AGE + 5))
    async with redis_emitter(rt_redis.url, tmp_path, clock) as emitter:
        old = await emitter.emit(room, "job.progress", {"n": "old"})
        clock.advance(MAX_AGE + 5)
        recent = await emitter.emit(room, "job.progress", {"n": "recent"})
    # Both are still in the stream (each event renews its expiry), but the first is too old.
    sock = await socks().connect(server.url, user.token)
    epoch = await room_epoch(rt_redis.url, room)
    stale = await sock.join(room, since=old - 1, epoch=epoch)
    assert (stale["recovered"], stale["replayed"], stale["offset"]) == (False, 0, recent)
    assert sock.named("job.progress") == []
    fresh = await sock.join(room, since=old, epoch=epoch)
    assert (fresh["recovered"], fresh["replayed"]) == (True, 1)
    assert [e["n"] for e in sock.named("job.progress")] == ["recent"]
