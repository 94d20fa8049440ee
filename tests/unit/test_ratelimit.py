"""Rate limiter logic: fixed windows, and Redis falling back to in-process and back."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from core.ratelimit import MemoryRateLimiter, RedisRateLimiter


class Clock:
    def __init__(self, now: float = 1_000_040.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_memory_counts_down_then_refuses() -> None:
    limiter = MemoryRateLimiter(clock=Clock())
    decisions = [await limiter.hit("ip:a", limit=3, window_seconds=60) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    # 1_000_040 is 20 s into its minute: 40 s remain.
    assert decisions[-1].reset_after == pytest.approx(40.0)
    assert decisions[-1].retry_after == 40


async def test_memory_keys_are_independent() -> None:
    limiter = MemoryRateLimiter(clock=Clock())
    await limiter.hit("ip:a", limit=1, window_seconds=60)
    assert not (await limiter.hit("ip:a", limit=1, window_seconds=60)).allowed
    assert (await limiter.hit("ip:b", limit=1, window_seconds=60)).allowed


async def test_memory_next_window_starts_afresh() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock=clock)
    await limiter.hit("k", limit=1, window_seconds=60)
    assert not (await limiter.hit("k", limit=1, window_seconds=60)).allowed
    clock.now += 40
    decision = await limiter.hit("k", limit=1, window_seconds=60)
    assert decision.allowed
    assert decision.remaining == 0


async def test_memory_stays_bounded_under_many_keys() -> None:
    limiter = MemoryRateLimiter(clock=Clock(), max_keys=10)
    for n in range(25):
        assert (await limiter.hit(f"ip:{n}", limit=5, window_seconds=60)).allowed
    assert len(limiter._counts) <= 10


class FakePipeline:
    def __init__(self, redis: FakeRedis) -> None:
        self.redis = redis
        self.ops: list[tuple[str, str, int]] = []

    async def __aenter__(self) -> FakePipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def incr(self, key: str) -> None:
        self.ops.append(("incr", key, 0))

    def expire(self, key: str, seconds: int) -> None:
        self.ops.append(("expire", key, seconds))

    async def execute(self) -> list[Any]:
        if self.redis.hang:
            await asyncio.Event().wait()
        if self.redis.down:
            raise RedisConnectionError("connection refused")
        results: list[Any] = []
        for op, key, seconds in self.ops:
            if op == "incr":
                self.redis.counts[key] = self.redis.counts.get(key, 0) + 1
                results.append(self.redis.counts[key])
            else:
                self.redis.ttls[key] = seconds
                results.append(True)
        return results


class FakeRedis:
    def __init__(self) -> None:
        self.down = False
        self.hang = False
        self.counts: dict[str, int] = {}
        self.ttls: dict[str, int] = {}

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        assert transaction
        return FakePipeline(self)


def fallback_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if "fall back to in-process" in r.getMessage()]


async def test_redis_counts_in_redis_with_expiry() -> None:
    redis = FakeRedis()
    limiter = RedisRateLimiter(redis, clock=Clock(), prefix="t:")  # type: ignore[arg-type]
    decisions = [await limiter.hit("ip:a", limit=2, window_seconds=60) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    key = f"t:ip:a:{1_000_040 // 60}"
    assert redis.counts == {key: 3}
    assert redis.ttls[key] == 61


async def test_redis_outage_falls_back_warns_once_and_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="roomcast.ratelimit")
    clock = Clock()
    redis = FakeRedis()
    limiter = RedisRateLimiter(redis, clock=clock, retry_seconds=5)  # type: ignore[arg-type]
    await limiter.hit("ip:a", limit=3, window_seconds=60)
    redis.down = True
    outage = [await limiter.hit("ip:a", limit=3, window_seconds=60) for _ in range(4)]
    # Still limited while Redis is away: the fallback counts in-process.
    assert [d.allowed for d in outage] == [True, True, True, False]
    assert limiter.degraded
    assert len(fallback_warnings(caplog)) == 1

    redis.down = False
    clock.now += 1  # before the retry interval: Redis is not asked yet
    await limiter.hit("ip:b", limit=3, window_seconds=60)
    assert limiter.degraded
    clock.now += 5
    decision = await limiter.hit("ip:a", limit=3, window_seconds=60)
    assert not limiter.degraded
    assert decision.remaining == 1  # the Redis count resumes where it was
    assert any("in Redis again" in r.getMessage() for r in caplog.records)

    redis.down = True  # a second outage warns again, once
    clock.now += 1
    await limiter.hit("ip:a", limit=3, window_seconds=60)
    await limiter.hit("ip:a", limit=3, window_seconds=60)
    assert len(fallback_warnings(caplog)) == 2


async def test_redis_that_hangs_times_out_into_the_fallback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redis = FakeRedis()
    redis.hang = True
    limiter = RedisRateLimiter(redis, clock=Clock(), timeout=0.05)  # type: ignore[arg-type]
    decision = await limiter.hit("ip:a", limit=3, window_seconds=60)
    assert decision.allowed and decision.remaining == 2
    assert limiter.degraded
    assert len(fallback_warnings(caplog)) == 1
