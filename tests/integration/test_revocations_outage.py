"""Signed-in requests keep working while Redis is down; revocations made meanwhile reach Redis
once it is back."""

from __future__ import annotations

import httpx

from api.app import create_app
from core.revocations import RedisRevocations
from roomcast.factory import Services
from tests.support.domain import make_user
from tests.support.services import RedisServer, start_redis


async def test_signed_in_requests_survive_a_redis_outage(
    redis_backed: tuple[Services, RedisServer],
) -> None:
    services, redis = redis_backed
    alice = await make_user(services, "alice")
    bob = await make_user(services, "bob")
    transport = httpx.ASGITransport(app=create_app(services.ctx), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        assert (await http.get("/api/v1/users/me", headers=alice.headers)).status_code == 200

        redis.kill()
        assert (await http.get("/api/v1/users/me", headers=alice.headers)).status_code == 200
        assert (await http.post("/api/v1/auth/logout", headers=bob.headers)).status_code == 204
        # Revoked here even though Redis did not hear of it yet.
        assert (await http.get("/api/v1/users/me", headers=bob.headers)).status_code == 401

        restarted = start_redis(redis.port)
        redis.proc = restarted.proc
        assert (await http.get("/api/v1/users/me", headers=alice.headers)).status_code == 200

    # Another process, knowing only what Redis knows, sees the revocation made in the outage.
    elsewhere = RedisRevocations(services.ctx.redis)
    jti = services.ctx.tokens.verify(bob.headers["Authorization"][7:], typ="access").jti
    assert await elsewhere.is_revoked(jti)
