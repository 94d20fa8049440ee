"""Request rate limits: fixed windows counted in-process, or in Redis shared by every process."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("roomcast.ratelimit")

Clock = Callable[[], float]


@dataclass(frozen=True)
class RateDecision:
    """The outcome of one hit: whether it is allowed and what the RateLimit-* headers say."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: float  # seconds until the current window ends

    @property
    def retry_after(self) -> int:
        return max(1, int(self.reset_after + 0.999))


class RateLimiter(Protocol):
    async def hit(self, key: str, *, limit: int, window_seconds: int) -> RateDecision:
        """Count one request against `key` and decide whether it stays within `limit`."""
        ...


def _decide(count: int, limit: int, window_start: float, window: int, now: float) -> RateDecision:
    return RateDecision(
        allowed=count <= limit,
        limit=limit,
        remaining=max(0, limit - count),
        reset_after=max(0.0, window_start + window - now),
    )


class MemoryRateLimiter:
    """Counters in this process only: the embedded default, and the fallback when Redis is away."""

    def __init__(self, *, clock: Clock = time.time, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._counts: dict[str, tuple[int, int]] = {}  # key -> (window index, count)

    async def hit(self, key: str, *, limit: int, window_seconds: int) -> RateDecision:
        now = self._clock()
        index = int(now // window_seconds)
        seen_index, count = self._counts.get(key, (index, 0))
        count = count + 1 if seen_index == index else 1
        if key not in self._counts and len(self._counts) >= self._max_keys:
            self._prune(index)
        self._counts[key] = (index, count)
        return _decide(count, limit, index * window_seconds, window_seconds, now)

    def _prune(self, index: int) -> None:
        # Counters of past windows are dead weight; if every key is current, start afresh
        # rather than grow without bound under a flood of distinct clients.
        stale = [k for k, (i, _) in self._counts.items() if i != index]
        for key in stale:
            del self._counts[key]
        if len(self._counts) >= self._max_keys:
            self._counts.clear()


class RedisRateLimiter:
    """Counters in Redis (INCR + EXPIRE in one transaction), so every process shares one limit.

    When Redis cannot be reached the hit is counted by `fallback` instead: requests keep being
    limited per process. A warning is logged once per outage, and Redis is tried again after
    `retry_seconds`, so an outage costs one failed round trip per interval, not per request.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        fallback: RateLimiter | None = None,
        prefix: str = "roomcast:rl:",
        timeout: float = 1.0,
        retry_seconds: float = 2.0,
        clock: Clock = time.time,
    ) -> None:
        self._redis = redis
        self._fallback = fallback or MemoryRateLimiter(clock=clock)
        self._prefix = prefix
        self._timeout = timeout
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._down_since: float | None = None
        self._next_try = 0.0

    @property
    def degraded(self) -> bool:
        return self._down_since is not None

    async def hit(self, key: str, *, limit: int, window_seconds: int) -> RateDecision:
        now = self._clock()
        if self._down_since is not None and now < self._next_try:
            return await self._fallback.hit(key, limit=limit, window_seconds=window_seconds)
        index = int(now // window_seconds)
        try:
            async with asyncio.timeout(self._timeout):
                count = await self._incr(f"{self._prefix}{key}:{index}", window_seconds)
        except (RedisError, OSError, TimeoutError) as exc:
            self._went_down(now, exc)
            return await self._fallback.hit(key, limit=limit, window_seconds=window_seconds)
        if self._down_since is not None:
            log.warning("rate limits are counted in Redis again")
            self._down_since = None
        return _decide(count, limit, index * window_seconds, window_seconds, now)

    async def _incr(self, redis_key: str, window_seconds: int) -> int:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(redis_key)
            # One spare second so a key never vanishes while its window is still counting.
            pipe.expire(redis_key, window_seconds + 1)
            count, _ = await pipe.execute()
        return int(count)

    def _went_down(self, now: float, exc: BaseException) -> None:
        if self._down_since is None:
            self._down_since = now
            log.warning(
                "rate limits fall back to in-process: Redis is unreachable (%s)",
                exc.__class__.__name__,
            )
        self._next_try = now + self._retry_seconds
