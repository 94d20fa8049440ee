"""Revocations shared through a real Redis: what one server process revokes, all refuse."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from uuid import uuid4

import httpx
from redis.asyncio import Redis

from api.app import create_app
from core.revocations import RedisRevocations
from core.settings import Settings
from roomcast.factory import Services, build_services
from tests.support.services import RedisServer

PASSWORD = "s3cret-passw0rd"
MakeSettings = Callable[..., Settings]


@asynccontextmanager
async def client_of(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(services.ctx), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@asynccontextmanager
async def two_processes(settings: Settings) -> AsyncIterator[tuple[Services, Services]]:
    """Two app instances on one Redis and one document store, as two `roomcast serve`
    processes on a shared MongoDB would be."""
    one = build_services(settings)
    two = build_services(settings)
    two.ctx.stores = one.ctx.stores  # the embedded store is per process: share it here
    await one.start()
    await two.start()
    try:
        yield one, two
    finally:
        await two.close()
        await one.close()


async def test_logout_on_one_process_is_refused_by_another(
    make_settings: MakeSettings, redis_proc: RedisServer
) -> None:
    settings = make_settings(redis_url=redis_proc.url)
    async with two_processes(settings) as (one, two), client_of(one) as a, client_of(two) as b:
        assert isinstance(two.ctx.revocations, RedisRevocations)
        email = f"redis-{uuid4().hex[:10]}@example.com"
        await a.post("/api/v1/auth/register",
                     json={"email": email, "name": "R", "password": PASSWORD})
        pair = (await a.post("/api/v1/auth/login",
                             json={"email": email, "password": PASSWORD})).json()
        headers = {"Authorization": f"Bearer {pair['access_token']}"}
        assert (await b.get("/api/v1/users/me", headers=headers)).status_code == 200
        assert (await a.post("/api/v1/auth/logout", headers=headers)).status_code == 204
        r = await b.get("/api/v1/users/me", headers=headers)
        assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]


async def test_revocation_expires_with_the_token(redis_proc: RedisServer) -> None:
    redis = Redis.from_url(redis_proc.url)
    try:
        prefix = f"test:{uuid4().hex}:"
        revocations = RedisRevocations(redis, prefix=prefix)
        await revocations.revoke("jti-1", expires_at=int(time.time()) + 120)
        assert await revocations.is_revoked("jti-1")
        assert not await revocations.is_revoked("jti-2")
        ttl = await redis.ttl(f"{prefix}jti-1")
        assert 0 < ttl <= 120
    finally:
        await redis.aclose()
