"""Fixtures for integration tests that need their own Redis (to kill and restart it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from roomcast.factory import Services, build_services
from tests.support.services import RedisServer, start_redis


@pytest.fixture
async def redis_backed(make_settings: Any) -> AsyncIterator[tuple[Services, RedisServer]]:
    """Started services on a redis-server of this test's own, which the test may kill."""
    redis = start_redis()
    services = build_services(make_settings(redis_url=redis.url))
    await services.start()
    try:
        yield services, redis
    finally:
        await services.close()
        redis.kill()
