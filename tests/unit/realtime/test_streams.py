"""Frames and the in-memory room stream (the embedded default's recovery)."""

from __future__ import annotations

import orjson
import pytest

from core.errors import ServiceUnavailable
from realtime.batcher import RedisBatcher
from realtime.redislink import RedisAddress, RedisLink
from realtime.streams import MemoryRoomStreams, RedisRoomStreams, frame_parts, volatile_frame
from tests.support.services import free_port


def decode(frame: str) -> list[object]:
    assert frame[0] == "2"
    return orjson.loads(frame[1:])  # type: ignore[no-any-return]


def test_frame_carries_room_and_offset_and_overrides_them() -> None:
    prefix, suffix = frame_parts("message", "meeting:ab", {"text": "hi", "offset": 9, "room": "x"})
    frame = (prefix + b"7" + suffix).decode()
    assert decode(frame) == ["message", {"room": "meeting:ab", "offset": 7, "text": "hi"}]
    prefix, suffix = frame_parts("ping", "user:u1", {})
    assert decode((prefix + b"1" + suffix).decode()) == ["ping", {"room": "user:u1", "offset": 1}]
    assert decode(volatile_frame("typing", {"a": 1})) == ["typing", {"a": 1}]


async def test_memory_stream_offsets_and_recovery() -> None:
    streams = MemoryRoomStreams(max_len=3, max_age=3600)
    offsets = [(await streams.append("project:p", "e", {"n": n}))[0] for n in range(5)]
    assert offsets == [1, 2, 3, 4, 5]
    assert (await streams.append("project:q", "e", {}))[0] == 1
    assert await streams.latest("project:p") == 5

    kept = await streams.since("project:p", 2)
    assert kept.recovered and [decode(f)[1]["n"] for f in kept.frames] == [2, 3, 4]  # type: ignore[index]
    assert (await streams.since("project:p", 5)).recovered
    assert (await streams.since("project:p", 5)).frames == []
    gone = await streams.since("project:p", 1)
    assert not gone.recovered and gone.frames == [] and gone.offset == 5
    # A client ahead of the server (its history was reset) cannot be recovered either.
    assert not (await streams.since("project:p", 99)).recovered


async def test_memory_stream_age_limit() -> None:
    streams = MemoryRoomStreams(max_len=10, max_age=0)
    await streams.append("job:j", "e", {})
    await streams.append("job:j", "e", {})
    assert not (await streams.since("job:j", 0)).recovered


async def test_redis_stream_append_raises_when_redis_is_unreachable() -> None:
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    redis = Redis(port=free_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    batcher = RedisBatcher(redis)
    link = RedisLink(RedisAddress.of(redis))
    streams = RedisRoomStreams(redis, batcher, link=link, max_len=10, max_age=60, prefix="t:")
    try:
        with pytest.raises(ServiceUnavailable):
            await streams.append("project:p", "e", {})
        with pytest.raises(ServiceUnavailable):
            await streams.since("project:p", 0)
    finally:
        await batcher.close()
        await link.close()
        await redis.aclose()
