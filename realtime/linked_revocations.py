"""The revocation check of a socket connect, over the pipelined Redis link.

Every connect asks Redis whether its token was revoked (`core/revocations.py`). Through
redis-py's client that one EXISTS costs a pooled connection's checkout, a retry wrapper and a
timeout context: about a tenth of a connect's CPU in a reconnect herd. Sent over the link
(`realtime/redislink.py`) it is packed with the turn's other commands and its reply resolves a
future. What it answers, and what happens when Redis cannot answer, stay RedisRevocations':
the link's errors are raised as the redis-py errors they stand for, so an unreachable Redis
still degrades to this process's own revocations and a refusal, a timeout or a busy Redis is
still a refusal to connect (`revocation_unchecked`).
"""

from __future__ import annotations

from redis import exceptions as redis_errors

from core.errors import ServiceUnavailable
from core.revocations import RedisRevocations, TokenRevocations
from realtime.redislink import RedisBusy, RedisLink, RedisRefused, RedisTimedOut


class LinkedRevocations:
    """RedisRevocations, with the per-connect EXISTS sent over the link."""

    def __init__(self, shared: RedisRevocations, link: RedisLink) -> None:
        self._shared = shared
        self._link = link

    async def revoke(self, jti: str, *, expires_at: int) -> None:
        await self._shared.revoke(jti, expires_at=expires_at)

    async def is_revoked(self, jti: str) -> bool:
        return await self._shared.is_revoked(jti, exists=self._exists)

    async def _exists(self, key: str) -> bool:
        try:
            return bool(await self._link.call("EXISTS", key))
        except RedisTimedOut as exc:
            raise redis_errors.TimeoutError(exc.message) from exc
        except (RedisRefused, RedisBusy) as exc:
            raise redis_errors.ResponseError(exc.message) from exc
        except ServiceUnavailable as exc:
            raise redis_errors.ConnectionError(exc.message) from exc


def linked(revocations: TokenRevocations, link: RedisLink | None) -> TokenRevocations:
    """The socket side's revocations: over the link when they are Redis' and there is one."""
    if link is None or not isinstance(revocations, RedisRevocations):
        return revocations
    return LinkedRevocations(revocations, link)
