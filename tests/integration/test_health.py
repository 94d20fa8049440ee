"""Health and degradation: readiness names what is down; REST keeps serving without Redis;
an unreachable MongoDB answers 503 quickly instead of hanging."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.app import create_app
from api.routes import system
from core.ratelimit import RedisRateLimiter
from roomcast.factory import Services, build_services
from tests.support.services import free_port, start_redis


def http_client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_live_and_ready_on_embedded_defaults(client: httpx.AsyncClient) -> None:
    live = await client.get("/health/live")
    assert live.status_code == 200 and live.json() == {"status": "alive"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"mongodb": "ok", "objects": "ok"}}


async def test_ready_names_failing_and_hanging_checks(
    services: Services, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(system, "HEALTH_CHECK_TIMEOUT", 0.2)

    async def broken() -> None:
        raise ConnectionRefusedError("nobody home")

    async def stuck() -> None:
        await asyncio.Event().wait()

    services.ctx.health_checks["search"] = broken
    services.ctx.health_checks["queue"] = stuck
    ready = await client.get("/health/ready")
    assert ready.status_code == 503
    error = ready.json()["error"]
    assert error["code"] == "service_unavailable"
    assert error["request_id"] == ready.headers["x-request-id"]
    assert error["message"] == "not ready: queue, search down"
    assert error["details"]["checks"] == {
        "mongodb": "ok", "objects": "ok", "search": "down", "queue": "timeout",
    }
    assert (await client.get("/health/live")).status_code == 200


async def test_redis_outage_degrades_and_recovers(
    redis_backed: tuple[Services, Any], caplog: pytest.LogCaptureFixture,
) -> None:
    services, redis = redis_backed
    # Retry Redis on every request, so recovery is seen on the first request after it returns.
    limiter = RedisRateLimiter(services.ctx.redis, retry_seconds=0.0)
    services.ctx.extras["rate_limiter"] = limiter
    async with http_client(create_app(services.ctx)) as http:
        ready = await http.get("/health/ready")
        assert ready.json()["checks"]["redis"] == "ok"
        assert (await http.get("/api/v1/openapi.json")).status_code == 200
        assert not limiter.degraded

        redis.kill()
        answers = [await http.get("/api/v1/openapi.json") for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 200]
        assert all("ratelimit-remaining" in r.headers for r in answers)
        assert limiter.degraded
        warnings = [r for r in caplog.records if "fall back to in-process" in r.getMessage()]
        assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING

        assert (await http.get("/health/live")).status_code == 200
        not_ready = await http.get("/health/ready")
        assert not_ready.status_code == 503
        assert "redis" in not_ready.json()["error"]["message"]
        assert not_ready.json()["error"]["details"]["down"] == ["redis"]

        restarted = start_redis(redis.port)
        redis.proc = restarted.proc  # so the fixture stops the new process
        for _ in range(20):  # the client reconnects on its own; a few requests at most
            await http.get("/api/v1/openapi.json")
            if not limiter.degraded:
                break
        assert not limiter.degraded
        assert (await http.get("/health/ready")).status_code == 200


async def read_a_user(request: Request) -> Response:
    ctx = request.app.state.ctx
    user = await ctx.stores.users.get("someone")
    return JSONResponse({"found": user is not None})


async def test_unreachable_mongodb_fails_fast_with_503(make_settings: Any) -> None:
    closed_port = free_port()
    settings = make_settings(
        mongo_uri=f"mongodb://127.0.0.1:{closed_port}/?directConnection=true",
        mongo_timeout_ms=300,
    )
    services = build_services(settings)  # not started: start-up would need the store
    app = create_app(services.ctx, extra_routes=[Route("/test/user", read_a_user)])
    try:
        async with http_client(app) as http, asyncio.timeout(60):
            response = await http.get("/test/user")
            ready = await http.get("/health/ready")
    finally:
        await services.close()
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "store_unavailable"
    assert error["request_id"] == response.headers["x-request-id"]
    assert ready.status_code == 503
    assert ready.json()["error"]["details"]["down"] == ["mongodb"]
