"""The shared redis-py client every process builds from settings: a bounded, blocking pool.

redis-py's default pool fails a command at once (`MaxConnectionsError`) when its connections
are all in use, which a connect burst reaches while Redis is healthy. A blocking pool makes the
command wait for a connection instead, up to `REDIS_POOL_TIMEOUT_SECONDS`; past that it fails
with `pool_exhausted` true, which callers must not mistake for Redis being unreachable.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError

from core.settings import Settings


def open_redis(settings: Settings) -> Redis:
    """A client over a bounded blocking pool (connects lazily; closing it closes the pool)."""
    assert settings.redis_url is not None
    pool = BlockingConnectionPool.from_url(settings.redis_url,
                                           max_connections=settings.redis_max_connections,
                                           timeout=settings.redis_pool_timeout_seconds)
    return Redis.from_pool(pool)


def pool_exhausted(exc: BaseException) -> bool:
    """Whether a redis-py failure means "no pooled connection free", not "Redis is down".

    redis-py 5 to 8 raise MaxConnectionsError from a full non-blocking pool, and from a blocking
    pool's wait a ConnectionError whose cause is the wait's TimeoutError
    (tests/integration/test_revocations_pool.py pins both)."""
    if isinstance(exc, MaxConnectionsError):
        return True
    return isinstance(exc, RedisConnectionError) and isinstance(exc.__cause__,
                                                                 asyncio.TimeoutError)
