"""Sign-in backoff through the REST app: in-process and shared through a real Redis."""

from __future__ import annotations

import random
from collections.abc import Callable
from uuid import uuid4

import httpx
import pytest

from api.app import create_app
from core.login_guard import BackoffPolicy, MemoryLoginGuard, RedisLoginGuard
from core.models import PageParams
from core.settings import Settings
from core.store.audit import AuditKind
from roomcast.factory import Services
from tests.support.domain import running
from tests.support.services import RedisServer, start_redis

PASSWORD = "s3cret-passw0rd"
MakeSettings = Callable[..., Settings]


class FakeClock:
    def __init__(self) -> None:
        self.now = 2_000_000_000.0

    def __call__(self) -> float:
        return self.now


def _ip() -> str:
    return "10." + ".".join(str(random.randint(1, 254)) for _ in range(3))


def client_for(services: Services, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(services.ctx), raise_app_exceptions=False,
                                    client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def make_account(services: Services) -> str:
    email = f"backoff-{uuid4().hex[:10]}@example.com"
    password_hash = await services.ctx.passwords.hash_async(PASSWORD)
    await services.ctx.stores.users.create(email=email, name="B", password_hash=password_hash)
    return email


async def attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def test_account_locks_after_max_failures_even_for_the_right_password(
    make_settings: MakeSettings,
) -> None:
    settings = make_settings(login_max_failures=3, login_backoff_seconds=60)
    async with running(settings) as services, client_for(services, _ip()) as client:
        email = await make_account(services)
        for _ in range(3):
            assert (await attempt(client, email, "wrong")).status_code == 401
        r = await attempt(client, email, PASSWORD)
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
        assert r.headers["retry-after"] == "60"
        # The refused attempt checked no password and wrote nothing.
        failed = await services.ctx.stores.audit.list(PageParams(), kind=AuditKind.SIGN_IN_FAILED)
        assert failed.total == 3
        # Another address does not unlock the account.
        async with client_for(services, _ip()) as elsewhere:
            assert (await attempt(elsewhere, email, PASSWORD)).status_code == 429


async def test_retry_after_doubles_up_to_the_cap(make_settings: MakeSettings) -> None:
    settings = make_settings(login_max_failures=2, login_backoff_seconds=10,
                             login_backoff_max_seconds=30)
    async with running(settings) as services, client_for(services, _ip()) as client:
        clock = FakeClock()
        services.ctx.extras["login_guard"] = MemoryLoginGuard(BackoffPolicy.of(settings),
                                                              clock=clock)
        email = await make_account(services)
        seen = []
        for _ in range(2):
            await attempt(client, email, "wrong")
        for _ in range(3):
            r = await attempt(client, email, "wrong")
            assert r.status_code == 429
            seen.append(int(r.headers["retry-after"]))
            clock.now += seen[-1]
            assert (await attempt(client, email, "wrong")).status_code == 401
        assert seen == [10, 20, 30]


async def test_success_resets_the_account(make_settings: MakeSettings) -> None:
    settings = make_settings(login_max_failures=3, login_backoff_seconds=60)
    async with running(settings) as services:
        email = await make_account(services)
        for _ in range(2):
            async with client_for(services, _ip()) as client:
                for _ in range(2):
                    assert (await attempt(client, email, "wrong")).status_code == 401
                assert (await attempt(client, email, PASSWORD)).status_code == 200


async def test_one_address_spraying_many_accounts_is_locked(make_settings: MakeSettings) -> None:
    settings = make_settings(login_max_failures=3, login_backoff_seconds=60)
    async with running(settings) as services:
        emails = [await make_account(services) for _ in range(4)]
        async with client_for(services, _ip()) as client:
            for email in emails[:3]:
                assert (await attempt(client, email, "wrong")).status_code == 401
            assert (await attempt(client, emails[3], PASSWORD)).status_code == 429
        async with client_for(services, _ip()) as other:
            assert (await attempt(other, emails[3], PASSWORD)).status_code == 200


async def test_backoff_is_shared_by_processes_through_redis(
    make_settings: MakeSettings, redis_proc: RedisServer
) -> None:
    settings = make_settings(redis_url=redis_proc.url, login_max_failures=2,
                             login_backoff_seconds=45)
    async with running(settings) as one, running(settings) as two:
        email = await make_account(one)
        async with client_for(one, _ip()) as a, client_for(two, _ip()) as b:
            assert (await attempt(a, email, "wrong")).status_code == 401
            assert (await attempt(b, email, "wrong")).status_code == 401
            r = await attempt(a, email, PASSWORD)
            assert r.status_code == 429 and r.headers["retry-after"] == "45"
            assert (await attempt(b, email, PASSWORD)).status_code == 429


async def test_redis_backoff_grows_and_resets(
    make_settings: MakeSettings, redis_proc: RedisServer
) -> None:
    settings = make_settings(redis_url=redis_proc.url, login_max_failures=2,
                             login_backoff_seconds=5, login_backoff_max_seconds=100)
    async with running(settings) as services, client_for(services, _ip()) as client:
        clock = FakeClock()
        assert services.redis is not None
        services.ctx.extras["login_guard"] = RedisLoginGuard(
            services.redis, BackoffPolicy.of(settings), clock=clock)
        email = await make_account(services)
        for _ in range(2):
            await attempt(client, email, "wrong")
        assert (await attempt(client, email, "wrong")).headers["retry-after"] == "5"
        clock.now += 5
        await attempt(client, email, "wrong")
        assert (await attempt(client, email, PASSWORD)).headers["retry-after"] == "10"
        clock.now += 10
        assert (await attempt(client, email, PASSWORD)).status_code == 200
        key = f"roomcast:login:account:{email}"
        assert await services.redis.exists(key) == 0


async def test_backoff_keeps_working_in_process_when_redis_goes_away(
    make_settings: MakeSettings, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_redis()
    try:
        settings = make_settings(redis_url=server.url, login_max_failures=2,
                                 login_backoff_seconds=30)
    except Exception:
        server.stop()
        raise
    async with running(settings) as services, client_for(services, _ip()) as client:
        email = await make_account(services)
        server.stop()
        for _ in range(2):
            assert (await attempt(client, email, "wrong")).status_code == 401
        assert (await attempt(client, email, PASSWORD)).status_code == 429
        assert any("falls back to in-process" in r.getMessage() for r in caplog.records)
