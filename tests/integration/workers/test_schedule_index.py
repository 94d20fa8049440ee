"""The Redis schedule source on a real redis-server: schedules of past minutes are found from
its index of minutes, not by a SCAN of the keyspace on every read, and nothing is lost on the
way: not a schedule filed before the index was kept, nor one filed while a read runs."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from taskiq import ScheduledTask
from taskiq.serializers import JSONSerializer
from taskiq_redis import ListRedisScheduleSource

from realtime.wire import schedule_keys
from tests.support.services import RedisServer
from workers.schedule.redis_source import QuietRedisScheduleSource

pytestmark = pytest.mark.slow


@pytest.fixture
async def redis(redis_proc: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_proc.url)
    yield client
    await client.aclose()


@pytest.fixture
def prefix() -> str:
    # With a colon, as Roomcast's own prefix has (`roomcast:schedule`).
    return f"roomcast:test-schedule-{secrets.token_hex(4)}"


def schedule(minutes_from_now: float, name: str) -> ScheduledTask:
    return ScheduledTask(task_name="roomcast.people.reminder", labels={}, args=[name],
                         kwargs={}, schedule_id=name,
                         time=datetime.now(UTC) + timedelta(minutes=minutes_from_now))


async def scans(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_scan", {}).get("calls", 0))


def source(redis_proc: RedisServer, prefix: str) -> QuietRedisScheduleSource:
    return QuietRedisScheduleSource(redis_proc.url, prefix=prefix, serializer=JSONSerializer(),
                                    keys=schedule_keys)


async def read_once(redis_proc: RedisServer, prefix: str) -> list[str]:
    """The ids one read of a new source finds (a process that starts, reads, stops)."""
    fresh = source(redis_proc, prefix)
    try:
        return [s.schedule_id for s in await fresh.get_schedules()]
    finally:
        await fresh.shutdown()


async def test_past_minutes_are_read_from_the_index_without_a_scan_per_read(
    redis_proc: RedisServer, redis: Redis, prefix: str,
) -> None:
    ours = source(redis_proc, prefix)
    try:
        await ours.add_schedule(schedule(-3, "three-minutes-ago"))
        await ours.add_schedule(schedule(-90, "an-hour-and-a-half-ago"))
        await ours.add_schedule(schedule(0, "now"))
        await ours.add_schedule(schedule(30, "later"))
        # Keys of everything else Redis holds: a SCAN would walk them all on every read.
        await redis.mset({f"{prefix}-other:{n}": b"x" for n in range(2000)})
        first = {s.schedule_id for s in await ours.get_schedules()}
        assert first == {"three-minutes-ago", "an-hour-and-a-half-ago", "now"}, first
        before = await scans(redis)
        for _ in range(5):
            again = {s.schedule_id for s in await ours.get_schedules()}
            assert again == first
        assert await scans(redis) == before
    finally:
        await ours.shutdown()


async def test_a_sent_past_schedule_leaves_the_index_with_its_empty_minute(
    redis_proc: RedisServer, redis: Redis, prefix: str,
) -> None:
    ours = source(redis_proc, prefix)
    try:
        past = schedule(-5, "past")
        await ours.add_schedule(past)
        assert await redis.zcard(f"{prefix}:time-index") == 1
        [found] = await ours.get_schedules()
        await ours.post_send(found)  # sent: upstream removes it from its minute's list
        assert await ours.get_schedules() == []
        assert await redis.zcard(f"{prefix}:time-index") == 0  # the empty minute dropped
    finally:
        await ours.shutdown()


async def test_an_id_whose_data_is_gone_leaves_its_minute_and_the_minute_the_index(
    redis_proc: RedisServer, redis: Redis, prefix: str,
) -> None:
    """A removal cut short between its two steps (the data gone, the id still listed) does not
    keep its minute in the index for ever, where it would count against each read's bound."""
    ours = source(redis_proc, prefix)
    try:
        await ours.add_schedule(schedule(-6, "dangling"))
        await ours.add_schedule(schedule(-6, "kept"))
        await redis.delete(f"{prefix}:data:dangling")
        assert [s.schedule_id for s in await ours.get_schedules()] == ["kept"]
        [key] = await redis.zrange(f"{prefix}:time-index", 0, -1)
        assert await redis.lrange(key, 0, -1) == [b"kept"]
        await redis.delete(f"{prefix}:data:kept")
        assert await ours.get_schedules() == []
        assert await redis.zcard(f"{prefix}:time-index") == 0
    finally:
        await ours.shutdown()


async def test_schedules_filed_before_the_index_are_found_after_one_scan(
    redis_proc: RedisServer, redis: Redis, prefix: str,
) -> None:
    # Filed by the upstream source itself, as a Roomcast without the index did.
    plain = ListRedisScheduleSource(redis_proc.url, prefix=prefix, serializer=JSONSerializer())
    await plain.add_schedule(schedule(-10, "filed-before"))
    await plain.shutdown()
    await plain._connection_pool.disconnect()

    before = await scans(redis)
    assert await read_once(redis_proc, prefix) == ["filed-before"]
    assert await scans(redis) > before
    scanned = await scans(redis)
    # Another process (a restart, a second worker) finds the index built: no SCAN again.
    assert await read_once(redis_proc, prefix) == ["filed-before"]
    assert await scans(redis) == scanned


async def test_a_minute_emptied_and_filed_again_is_read_again(
    redis_proc: RedisServer, redis: Redis, prefix: str,
) -> None:
    """The script drops an empty minute and a later filing re-adds it: a reminder set for a
    time already gone, after that minute's earlier schedule was sent, is still found."""
    ours = source(redis_proc, prefix)
    try:
        first = schedule(-2, "first")
        await ours.add_schedule(first)
        [found] = await ours.get_schedules()
        await ours.post_send(found)
        assert await ours.get_schedules() == []
        second = ScheduledTask(task_name=first.task_name, labels={}, args=["second"],
                               kwargs={}, schedule_id="second", time=first.time)
        await ours.add_schedule(second)
        assert [s.schedule_id for s in await ours.get_schedules()] == ["second"]
    finally:
        await ours.shutdown()


async def test_a_read_while_redis_is_down_finds_nothing_and_the_next_finds_all(
    redis_proc: RedisServer, prefix: str,
) -> None:
    ours = source(redis_proc, prefix)
    down = QuietRedisScheduleSource("redis://127.0.0.1:1/0", prefix=prefix,
                                    serializer=JSONSerializer(), keys=schedule_keys)
    try:
        await ours.add_schedule(schedule(-4, "waiting"))
        assert await down.get_schedules() == []
        assert [s.schedule_id for s in await ours.get_schedules()] == ["waiting"]
    finally:
        await ours.shutdown()
        await down.shutdown()
