"""What a join reads in one step each, against a real redis-server and the embedded default
alike: a room's history with its position (`RoomStreams.since`) and a socket's presence entry
with the room's presence (`PresenceStore.enter`)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from redis.asyncio import Redis

from realtime.presence import MemoryPresenceStore, PresenceStore, RedisPresenceStore
from realtime.redislink import RedisAddress, RedisLink
from realtime.streams import MemoryRoomStreams, Position, RedisRoomStreams, RoomStreams, position_in
from tests.support.services import RedisServer

Clock = list[float]
OpenStreams = Callable[..., AbstractAsyncContextManager[RoomStreams]]


@asynccontextmanager
async def redis_link(url: str) -> AsyncIterator[tuple[Redis, RedisLink]]:
    redis = Redis.from_url(url)
    link = RedisLink(RedisAddress.of(redis))
    try:
        yield redis, link
    finally:
        await link.close()
        await redis.aclose()


@pytest.fixture(params=["memory", "redis"])
def open_streams(request: pytest.FixtureRequest, redis_proc: RedisServer) -> OpenStreams:
    @asynccontextmanager
    async def opened(*, max_len: int, max_age: int, clock: Clock) -> AsyncIterator[RoomStreams]:
        if request.param == "memory":
            yield MemoryRoomStreams(max_len=max_len, max_age=max_age, clock=lambda: clock[0])
            return
        async with redis_link(redis_proc.url) as (_, link):
            yield RedisRoomStreams(link=link, max_len=max_len, max_age=max_age,
                                   prefix=f"t{os.urandom(4).hex()}:", clock=lambda: clock[0])

    return opened


async def test_a_rejoin_is_answered_from_the_position_and_the_history_read_together(
    open_streams: OpenStreams,
) -> None:
    clock = [1_000_000.0]
    async with open_streams(max_len=5, max_age=60, clock=clock) as streams:
        empty = await streams.since("meeting:m", 0, None)
        assert empty.recovered and empty.frames == [] and empty.offset == 0
        for n in range(7):
            await streams.append("meeting:m", "e", {"n": n})
        epoch = empty.epoch  # the epoch made for the empty room is the one its events count in
        kept = await streams.since("meeting:m", 4, epoch)
        assert kept.recovered and (kept.offset, kept.epoch) == (7, epoch)
        assert [position_in(f, "meeting:m") for f in kept.frames] == [
            Position(5, epoch), Position(6, epoch), Position(7, epoch)]
        latest = await streams.since("meeting:m", 7, epoch)
        assert latest.recovered and latest.frames == []
        trimmed = await streams.since("meeting:m", 1, epoch)  # offsets 2 and 3 are gone
        assert not trimmed.recovered and trimmed.frames == [] and trimmed.offset == 7
        assert not (await streams.since("meeting:m", 4, "f" * 12)).recovered
        assert not (await streams.since("meeting:m", 4, None)).recovered
        ahead = await streams.since("meeting:m", 9, epoch)  # more than the room ever had
        assert not ahead.recovered and ahead.frames == []

        clock[0] += 61  # every event is older than the history's maximum age
        await streams.append("meeting:m", "e", {"n": 7})
        assert not (await streams.since("meeting:m", 6, epoch)).recovered
        fresh = await streams.since("meeting:m", 7, epoch)
        assert fresh.recovered and [position_in(f, "meeting:m") for f in fresh.frames] == [
            Position(8, epoch)]


async def test_a_history_that_outlived_its_counter_is_not_recovered(
    redis_proc: RedisServer,
) -> None:
    """The counter and the epoch were lost while the stream stayed (a failover to a replica
    that lacked them): the stream's entries are the old epoch's, never the new one's."""
    prefix = f"t{os.urandom(4).hex()}:"
    async with redis_link(redis_proc.url) as (redis, link):
        streams = RedisRoomStreams(link=link, max_len=10, max_age=60, prefix=prefix)
        for n in range(3):
            await streams.append("meeting:m", "e", {"n": n})
        old = await streams.position("meeting:m")
        await redis.delete(f"{prefix}off:meeting:m", f"{prefix}epoch:meeting:m")
        new = await streams.position("meeting:m")
        assert new.offset == 0 and new.epoch != old.epoch
        await redis.set(f"{prefix}off:meeting:m", 2)  # the new epoch's offsets 1 and 2
        lost = await streams.since("meeting:m", 1, new.epoch)
        assert not lost.recovered and lost.frames == [] and lost.epoch == new.epoch
        assert not (await streams.since("meeting:m", 1, old.epoch)).recovered


@pytest.fixture(params=["memory", "redis"])
async def presence(request: pytest.FixtureRequest,
                   redis_proc: RedisServer) -> AsyncIterator[PresenceStore]:
    if request.param == "memory":
        yield MemoryPresenceStore()
        return
    async with redis_link(redis_proc.url) as (redis, link):
        yield RedisPresenceStore(redis, link=link, process_id=os.urandom(4).hex(), ttl=30,
                                 prefix=f"t{os.urandom(4).hex()}:")


async def test_entering_counts_the_connection_and_answers_the_room(
    presence: PresenceStore,
) -> None:
    count, room, replaced = await presence.enter("meeting:m", "s1", "u1", "Ann", "online")
    assert count == 1 and replaced is None  # nothing is held: no place was taken
    assert [(e.user_id, e.connections, e.status) for e in room] == [("u1", 1, "online")]
    count, room, replaced = await presence.enter("meeting:m", "s2", "u1", "Ann", "away")
    assert count == 2
    # One entry per user, with the latest status among their connections.
    assert [(e.user_id, e.connections, e.status) for e in room] == [("u1", 2, "away")]
    count, room, replaced = await presence.enter("meeting:m", "s3", "u2", "Bob", "online")
    assert count == 1 and [(e.user_id, e.connections) for e in room] == [("u1", 2), ("u2", 1)]
    # The same connection again counts once.
    count, room, replaced = await presence.enter("meeting:m", "s3", "u2", "Bob", "online")
    assert count == 1 and [(e.user_id, e.connections) for e in room] == [("u1", 2), ("u2", 1)]
    assert room == await presence.snapshot("meeting:m")


async def test_a_removal_asked_right_after_an_entry_comes_after_it(
    presence: PresenceStore,
) -> None:
    """A socket that leaves while its join is recording it (a disconnect in the middle of a
    join): the removal reaches the store after the entry, so no entry outlives the socket."""
    entered, departure = await asyncio.gather(
        presence.enter("meeting:m", "s1", "u1", "Ann", "online"),
        presence.remove("meeting:m", "s1"))
    assert entered[0] == 1
    assert departure is not None and (departure.user_id, departure.remaining) == ("u1", 0)
    assert await presence.snapshot("meeting:m") == []
