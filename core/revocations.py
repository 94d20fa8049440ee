"""Revoked access tokens (by jti), kept until the token would have expired anyway."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from core.errors import ServiceUnavailable
from core.redispool import pool_exhausted

log = logging.getLogger("roomcast.auth")


class TokenRevocations(Protocol):
    async def revoke(self, jti: str, *, expires_at: int) -> None: ...

    async def is_revoked(self, jti: str) -> bool: ...


class MemoryRevocations:
    """In-process revocations for the embedded default (one process)."""

    def __init__(self) -> None:
        self._revoked: dict[str, int] = {}

    async def revoke(self, jti: str, *, expires_at: int) -> None:
        self._prune()
        self._revoked[jti] = expires_at

    async def is_revoked(self, jti: str) -> bool:
        return jti in self._revoked

    def _prune(self) -> None:
        now = int(time.time())
        for jti in [j for j, exp in self._revoked.items() if exp < now]:
            del self._revoked[jti]


class RevocationUnchecked(ServiceUnavailable):
    """Redis is reachable but the check could not be made (no pooled connection came free in
    time, a command timed out): the token is refused, never taken as not revoked."""

    code = "revocation_unchecked"
    default_message = "the token's revocation cannot be checked right now: retry shortly"


class RedisRevocations:
    """Revocations shared by every process; each key expires with its token.

    Degrades rather than fails while Redis is unreachable (a connection cannot be opened):
    this process keeps answering from what it revoked itself, and writes those revocations to
    Redis once it is back. Until then a token revoked on another process stays usable here, at
    most until it expires. Any other failure to check (the pool exhausted under load, a
    timeout, an error reply) raises RevocationUnchecked: a check that could not be made is a
    refusal, not "not revoked".
    """

    def __init__(self, redis: Redis, *, prefix: str = "roomcast:revoked:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._local = MemoryRevocations()
        self._unsynced: dict[str, int] = {}
        self._down = False

    async def revoke(self, jti: str, *, expires_at: int) -> None:
        await self._local.revoke(jti, expires_at=expires_at)
        self._unsynced[jti] = expires_at
        await self._sync()

    async def is_revoked(self, jti: str, *,
                         exists: Callable[[str], Awaitable[bool]] | None = None) -> bool:
        """`exists` asks Redis whether a key exists another way than this client (the socket
        side's pipelined link), raising redis-py's errors for what fails."""
        if await self._local.is_revoked(jti):
            return True
        try:
            if self._unsynced:
                await self._sync()
            key = self._prefix + jti
            revoked = bool(await (self._redis.exists(key) if exists is None else exists(key)))
        except (RedisError, OSError) as exc:
            if not _unreachable(exc):
                log.warning("a token's revocation could not be checked: %r", exc)
                raise RevocationUnchecked() from exc
            self._outage(exc)
            return False
        self._recovered()
        return revoked

    async def _sync(self) -> None:
        now = int(time.time())
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for jti, expires_at in self._unsynced.items():
                    pipe.set(self._prefix + jti, b"1", ex=max(1, expires_at - now))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            if _unreachable(exc):
                self._outage(exc)
            return  # kept here and retried by the next revoke or check
        self._unsynced.clear()
        self._recovered()

    def _outage(self, exc: BaseException) -> None:
        if not self._down:
            self._down = True
            log.warning("token revocations fall back to this process: Redis unreachable (%s)",
                        exc)

    def _recovered(self) -> None:
        if self._down:
            self._down = False
            log.warning("token revocations are shared through Redis again")


def _unreachable(exc: BaseException) -> bool:
    """Redis cannot be reached (refused, reset, unresolvable): the documented fallback applies.
    A full pool is not that: Redis is there, busy serving this process's other commands."""
    if pool_exhausted(exc):
        return False
    return isinstance(exc, (RedisConnectionError, OSError))
