"""A connect burst far larger than the Redis pool: every token revoked on another process is
refused, every healthy one connects (the pool makes commands wait instead of failing open)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import httpx
import pytest
import socketio

from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, Sock
from tests.support.services import RedisServer

pytestmark = pytest.mark.slow

POOL = 2  # REDIS_MAX_CONNECTIONS of the server taking the burst


async def attempt(sock: Sock, url: str, token: str) -> str:
    try:
        await sock.connect(url, token)
    except socketio.exceptions.ConnectionError:
        return str((sock.connect_error or {}).get("data", {}).get("code"))
    return "connected"


async def test_a_burst_larger_than_the_pool_refuses_revoked_tokens_and_admits_the_rest(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer,
    long_form: bool,
) -> None:
    healthy, revoked = (600, 60) if long_form else (120, 12)
    users = [seed.user() for _ in range(healthy)]
    leaver = seed.user("leaver")
    signed_out = [seed.token(leaver) for _ in range(revoked)]
    one = start_server(redis_url=rt_redis.url)
    two = start_server(redis_url=rt_redis.url, redis_max_connections=str(POOL),
                       redis_pool_timeout_seconds="20")
    async with httpx.AsyncClient(base_url=one.url) as http:
        for token in signed_out:  # revoked on the other process
            r = await http.post("/api/v1/auth/logout", json={},
                                headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 204

    tries = [(True, user.token) for user in users] + [(False, token) for token in signed_out]
    random.Random(13).shuffle(tries)  # the revoked ones spread through the burst
    outcomes = await asyncio.gather(*(attempt(socks(), two.url, token) for _, token in tries))

    admitted = [o for (ok, _), o in zip(tries, outcomes, strict=True) if ok]
    refused = [o for (ok, _), o in zip(tries, outcomes, strict=True) if not ok]
    assert admitted == ["connected"] * healthy, sorted(set(admitted))
    assert refused == ["token_revoked"] * revoked, sorted(set(refused))
    assert "Traceback" not in two.log()
