"""Backoff after repeated failed sign-ins, per account and per client address.

Each key (an account's email, a client IP) counts its failures. Once it reaches
`login_max_failures`, every further failure locks the key for `login_backoff_seconds`,
doubling each time up to `login_backoff_max_seconds`; a locked key is refused before any
password is checked. A successful sign-in forgets the account's failures; an address's
failures are forgotten after a quiet period, so a caller cannot clear them by signing in to an
account of their own between guesses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.errors import RateLimited
from core.settings import Settings

log = logging.getLogger("roomcast.login")

Clock = Callable[[], float]
# A key's failures are forgotten this long after its last one (at least).
MIN_MEMORY_SECONDS = 15 * 60


@dataclass(frozen=True)
class BackoffPolicy:
    max_failures: int
    base_seconds: float
    max_seconds: float

    @classmethod
    def of(cls, settings: Settings) -> BackoffPolicy:
        return cls(settings.login_max_failures, settings.login_backoff_seconds,
                   settings.login_backoff_max_seconds)

    def lock_seconds(self, failures: int) -> float:
        """How long a key with `failures` failures stays locked (0: not locked)."""
        if failures < self.max_failures:
            return 0.0
        exponent = min(failures - self.max_failures, 32)
        return float(min(self.base_seconds * 2**exponent, self.max_seconds))

    @property
    def memory_seconds(self) -> int:
        return int(max(MIN_MEMORY_SECONDS, self.max_seconds * 2))


class LoginGuard(Protocol):
    async def check(self, keys: Sequence[str]) -> None:
        """Raise RateLimited (with retry_after) if any key is locked now."""

    async def failed(self, keys: Sequence[str]) -> None: ...

    async def succeeded(self, keys: Sequence[str]) -> None: ...


def _refuse(retry_after: float) -> RateLimited:
    return RateLimited("too many failed sign-ins: try again later",
                       retry_after=retry_after, details={"retry_after": round(retry_after, 3)})


class MemoryLoginGuard:
    """For one process (the embedded default)."""

    def __init__(self, policy: BackoffPolicy, *, clock: Clock = time.time) -> None:
        self._policy = policy
        self._clock = clock
        # key -> (failures, locked_until, last_failure_at)
        self._state: dict[str, tuple[int, float, float]] = {}

    async def check(self, keys: Sequence[str]) -> None:
        now = self._clock()
        self._forget_stale(now)
        wait = max((self._state.get(k, (0, 0.0, 0.0))[1] - now for k in keys), default=0.0)
        if wait > 0:
            raise _refuse(wait)

    async def failed(self, keys: Sequence[str]) -> None:
        now = self._clock()
        self._forget_stale(now)
        for key in keys:
            failures = self._state.get(key, (0, 0.0, 0.0))[0] + 1
            self._state[key] = (failures, now + self._policy.lock_seconds(failures), now)

    async def succeeded(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._state.pop(key, None)

    def _forget_stale(self, now: float) -> None:
        horizon = now - self._policy.memory_seconds
        for key in [k for k, (_, _, last) in self._state.items() if last < horizon]:
            del self._state[key]


class RedisLoginGuard:
    """Shared by every server process. If Redis is unreachable it keeps guarding in-process
    (and says so in the log) rather than refusing every sign-in."""

    def __init__(
        self, redis: Redis, policy: BackoffPolicy, *, clock: Clock = time.time,
        prefix: str = "roomcast:login:",
    ) -> None:
        self._redis = redis
        self._policy = policy
        self._clock = clock
        self._prefix = prefix
        self._fallback = MemoryLoginGuard(policy, clock=clock)

    async def check(self, keys: Sequence[str]) -> None:
        try:
            values = [await self._redis.hget(self._prefix + k, "locked_until") for k in keys]
        except RedisError as exc:
            log.warning("login backoff falls back to in-process: %s", exc)
            await self._fallback.check(keys)
            return
        now = self._clock()
        wait = max((float(v) - now for v in values if v is not None), default=0.0)
        if wait > 0:
            raise _refuse(wait)

    async def failed(self, keys: Sequence[str]) -> None:
        try:
            for key in keys:
                await self._record_failure(self._prefix + key)
        except RedisError as exc:
            log.warning("login backoff falls back to in-process: %s", exc)
            await self._fallback.failed(keys)

    async def succeeded(self, keys: Sequence[str]) -> None:
        try:
            await self._redis.delete(*(self._prefix + k for k in keys))
        except RedisError as exc:
            log.warning("login backoff falls back to in-process: %s", exc)
        await self._fallback.succeeded(keys)

    async def _record_failure(self, name: str) -> None:
        # HINCRBY is atomic, so concurrent failures across processes are all counted.
        failures = int(await self._redis.hincrby(name, "failures", 1))
        locked_until = self._clock() + self._policy.lock_seconds(failures)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(name, "locked_until", repr(locked_until))
            pipe.expire(name, self._policy.memory_seconds)
            await pipe.execute()


def build_login_guard(settings: Settings, redis: Redis | None) -> LoginGuard:
    policy = BackoffPolicy.of(settings)
    return RedisLoginGuard(redis, policy) if redis is not None else MemoryLoginGuard(policy)
