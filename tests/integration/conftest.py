"""Fixtures for integration tests that need their own Redis (to kill and restart it), or a
worker's mail and reminder senders to drive by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from roomcast.factory import Services, build_services
from tests.support.services import RedisServer, start_redis
from tests.support.smtp import SmtpServer
from workers.schedule.deps import PeopleDeps


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


@pytest.fixture
async def people(make_settings: Any, smtp: SmtpServer) -> AsyncIterator[PeopleDeps]:
    """What a worker sends mail and reminders with, over a real SMTP server, leases of 0.3 s
    and no scheduler: no sweep sends behind the test's back, the test's senders are the only
    ones (mail a task was asked for still goes out through the in-process queue)."""
    services = build_services(make_settings(smtp_url=smtp.url, job_lease_seconds=0.3))
    assert services.jobs is not None
    services.jobs.scheduler = None
    await services.start()
    try:
        assert services.jobs.people is not None
        yield services.jobs.people
    finally:
        await services.close()
