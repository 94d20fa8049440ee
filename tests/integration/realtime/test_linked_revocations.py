"""A socket connect's revocation check over the Redis link (realtime/linked_revocations.py)
answers what RedisRevocations answers over redis-py, against a real redis-server: revoked on
another process is revoked; an unreachable Redis falls back to this process's revocations; a
refused command (an ACL without EXISTS) and a hung Redis are refusals to check."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from core.revocations import RedisRevocations, RevocationUnchecked
from realtime.linked_revocations import LinkedRevocations, linked
from realtime.redislink import RedisAddress, RedisLink
from tests.support.services import RedisServer


@pytest.fixture
async def clients(own_redis: RedisServer) -> AsyncIterator[tuple[Redis, RedisLink]]:
    redis = Redis.from_url(own_redis.url)
    link = RedisLink(RedisAddress.of(redis), timeout=0.5)
    try:
        yield redis, link
    finally:
        await link.close()
        await redis.aclose()


def expiry() -> int:
    return int(time.time()) + 600


async def test_revoked_elsewhere_is_revoked_here(clients: tuple[Redis, RedisLink]) -> None:
    redis, link = clients
    elsewhere = RedisRevocations(Redis.from_url(f"redis://127.0.0.1:{_port(redis)}/0"))
    try:
        await elsewhere.revoke("gone", expires_at=expiry())
        here = linked(RedisRevocations(redis), link)
        assert isinstance(here, LinkedRevocations)
        assert await here.is_revoked("gone")
        assert not await here.is_revoked("kept")
        await here.revoke("mine", expires_at=expiry())  # written through to Redis
        assert await elsewhere.is_revoked("mine")
    finally:
        await elsewhere._redis.aclose()


async def test_an_unreachable_redis_falls_back_to_this_process(
        own_redis: RedisServer, clients: tuple[Redis, RedisLink]) -> None:
    redis, link = clients
    here = LinkedRevocations(RedisRevocations(redis), link)
    assert not await here.is_revoked("kept")
    await here.revoke("mine", expires_at=expiry())
    own_redis.kill()
    assert not await here.is_revoked("kept")  # degraded: not refused
    assert await here.is_revoked("mine")  # what this process revoked still counts


async def test_a_refused_check_is_a_refusal(own_redis: RedisServer) -> None:
    admin = Redis.from_url(own_redis.url)
    await admin.execute_command("ACL", "SETUSER", "limited", "on", ">secret", "~*", "+@all",
                                "-exists")
    redis = Redis.from_url(f"redis://limited:secret@127.0.0.1:{own_redis.port}/0")
    link = RedisLink(RedisAddress.of(redis))
    try:
        with pytest.raises(RevocationUnchecked):
            await LinkedRevocations(RedisRevocations(redis), link).is_revoked("any")
    finally:
        await link.close()
        await redis.aclose()
        await admin.aclose()


async def test_a_hung_redis_is_a_refusal_not_a_fallback(
        own_redis: RedisServer, clients: tuple[Redis, RedisLink]) -> None:
    redis, link = clients
    here = LinkedRevocations(RedisRevocations(redis), link)
    assert not await here.is_revoked("kept")
    os.kill(own_redis.proc.pid, signal.SIGSTOP)
    try:
        with pytest.raises(RevocationUnchecked):
            await asyncio.wait_for(here.is_revoked("kept"), timeout=10)
    finally:
        os.kill(own_redis.proc.pid, signal.SIGCONT)
    assert not await here.is_revoked("kept")  # a new connection


def _port(redis: Redis) -> int:
    return int(redis.connection_pool.connection_kwargs["port"])
