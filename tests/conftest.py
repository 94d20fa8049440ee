"""Fixtures shared by every test: settings, the app in-process, and real services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.settings import Settings
from roomcast.factory import Services, build_services
from tests.support.services import RedisServer, S3Server, redis_server, s3_server
from tests.support.smtp import SmtpServer, smtp_server


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long",
        action="store_true",
        default=False,
        help="run the long forms of the fuzz, fault and soak suites (make test-long)",
    )


@pytest.fixture(scope="session")
def long_form(request: pytest.FixtureRequest) -> bool:
    """True under `--long`: suites with a bounded and a long form size themselves by it."""
    return bool(request.config.getoption("--long"))


@pytest.fixture(scope="session")
def redis_proc() -> Iterator[RedisServer]:
    """One redis-server for the session; tests use unique keys or flush their own db."""
    with redis_server() as server:
        yield server


@pytest.fixture(scope="session")
def s3_proc() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture
def make_settings(tmp_path: Path) -> Any:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "env": "test",
            "data_dir": tmp_path / "data",
            "log_json": False,
            "_env_file": None,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Any) -> Settings:
    return make_settings()  # type: ignore[no-any-return]


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    built = build_services(settings)
    await built.start()
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The REST app in-process, over httpx, as a browser app would call it."""
    from api.app import create_app

    app = create_app(services.ctx)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd's, in its own process) whose mail the test reads."""
    with smtp_server(tmp_path) as server:
        yield server
