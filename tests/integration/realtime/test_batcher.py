"""The Redis batcher on a real redis-server: closing it writes what is queued."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from redis.asyncio import Redis

from realtime.batcher import RedisBatcher
from tests.support.services import RedisServer


@pytest.fixture
async def redis(rt_redis: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(rt_redis.url)
    yield client
    await client.aclose()


async def test_close_writes_what_is_queued_before_it(redis: Redis) -> None:
    batcher = RedisBatcher(redis)
    key = f"test:{uuid4().hex}"
    writes = [asyncio.ensure_future(batcher.run(lambda pipe, n=n: pipe.rpush(key, n)))
              for n in range(600)]  # more than one pipeline's worth
    await asyncio.sleep(0)  # queued, not yet written
    await batcher.close()
    results = await asyncio.wait_for(asyncio.gather(*writes, return_exceptions=True), 10)
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert await redis.lrange(key, 0, -1) == [str(n).encode() for n in range(600)]
