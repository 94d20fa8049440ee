"""The job stream on a real redis-server: trimmed after acknowledgements, never below what
is still pending or undelivered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
import redis.asyncio as aioredis
from taskiq import AckableMessage

from tests.support.services import RedisServer
from workers.broker import register_job_task
from workers.stream_broker import ReclaimingStreamBroker


@pytest.fixture
async def broker(redis_proc: RedisServer) -> AsyncIterator[ReclaimingStreamBroker]:
    built = ReclaimingStreamBroker(redis_proc.url, queue_name=f"jobs-{uuid4().hex}",
                                   consumer_group_name="g", consumer_id="0",
                                   idle_timeout=60_000, xread_block=100, xread_count=1)
    await built.startup()
    try:
        yield built
    finally:
        await built.shutdown()


async def _noop(job_id: str) -> None:
    return None


async def _receive(listening: AsyncIterator[AckableMessage], n: int) -> list[AckableMessage]:
    return [await anext(listening) for _ in range(n)]


async def test_the_stream_stays_bounded_and_keeps_unacknowledged_messages(
    broker: ReclaimingStreamBroker, redis_proc: RedisServer,
) -> None:
    task = register_job_task(broker, _noop)
    async with aioredis.Redis.from_url(redis_proc.url) as redis:
        listening = broker.listen()
        try:
            for i in range(40):
                await task.kiq(f"job-{i}")
                (message,) = await _receive(listening, 1)
                await message.ack()
            # Everything was acknowledged: at most the last delivered entry is kept.
            assert await redis.xlen(broker.queue_name) <= 1

            for i in range(6):
                await task.kiq(f"later-{i}")
            held = await _receive(listening, 2)  # delivered, never acknowledged
            acked = await _receive(listening, 2)
            for message in acked:
                await message.ack()
            # Two pending and two never delivered stay, whatever was acknowledged after them.
            entries = await redis.xrange(broker.queue_name)
            assert len(entries) >= 4
            pending = await redis.xpending_range(broker.queue_name, "g", "-", "+", 10)
            assert {p["message_id"] for p in pending} <= {e[0] for e in entries}
            assert len(pending) == 2
            rest = await _receive(listening, 2)
            for message in [*held, *rest]:
                await message.ack()
            assert await redis.xlen(broker.queue_name) <= 1
        finally:
            await listening.aclose()  # type: ignore[attr-defined]
