"""A revocation check that cannot be made while Redis is healthy (its pool is exhausted) is a
refusal with `revocation_unchecked`, never "not revoked"; an unreachable Redis keeps the
documented fallback (tests/integration/test_revocations_outage.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.connection import Connection

from core.redispool import pool_exhausted
from core.revocations import RedisRevocations, RevocationUnchecked
from tests.support.services import RedisServer, free_port, redis_server


@pytest.fixture(scope="module")
def own_redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture(params=["non-blocking", "blocking"])
async def full_pool(request: pytest.FixtureRequest,
                    own_redis: RedisServer) -> AsyncIterator[Redis]:
    """A client whose only pooled connection is taken (by a command of another request)."""
    pool: ConnectionPool = (
        ConnectionPool.from_url(own_redis.url, max_connections=1)
        if request.param == "non-blocking"
        else BlockingConnectionPool.from_url(own_redis.url, max_connections=1, timeout=0.2)
    )
    redis = Redis.from_pool(pool)
    held: Connection = await pool.get_connection()  # type: ignore[assignment]
    try:
        yield redis
    finally:
        await pool.release(held)
        await redis.aclose()


async def test_an_exhausted_pool_is_told_apart_from_an_unreachable_redis(
    full_pool: Redis,
) -> None:
    with pytest.raises(Exception) as busy:
        await full_pool.exists("anything")
    assert pool_exhausted(busy.value)

    closed = Redis(port=free_port(), socket_connect_timeout=1)
    try:
        with pytest.raises(Exception) as down:
            await closed.exists("anything")
        assert not pool_exhausted(down.value)
    finally:
        await closed.aclose()


async def test_a_check_that_cannot_be_made_is_a_refusal(full_pool: Redis) -> None:
    revocations = RedisRevocations(full_pool, prefix="pool-test:")
    with pytest.raises(RevocationUnchecked) as refused:
        await revocations.is_revoked("some-jti")
    assert refused.value.code == "revocation_unchecked" and refused.value.http_status == 503
