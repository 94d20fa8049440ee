"""Which failures the runner retries: outages of the store, Redis or object storage, and
nothing else (a duplicate key from a bug fails the job at once, as an internal error). The
store's errors are raised as core/store raises them: PyMongo's, translated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from pymongo.errors import AutoReconnect, DuplicateKeyError

from core.errors import RoomcastError
from core.objects import ObjectStorage
from core.store.errors import translate
from core.store.jobs import JobStatus
from roomcast.factory import Services
from tests.integration.workers.conftest import Member
from tests.integration.workers.test_runner import _deps, _ingest_job
from workers.runner import run_job


class FailingObjects:
    """Object storage whose first `times` downloads raise `error`."""

    def __init__(self, inner: ObjectStorage, error: RoomcastError, times: int) -> None:
        self._inner, self._error, self.times = inner, error, times

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def open_stream(self, key: str) -> AsyncIterator[bytes]:
        if self.times > 0:
            self.times -= 1
            raise self._error
        return self._inner.open_stream(key)


async def test_a_lost_store_connection_is_retried(
    services: Services, client: httpx.AsyncClient, member: Member
) -> None:
    job = await _ingest_job(services, client, member)
    lost = translate(AutoReconnect("connection reset"))
    objects = FailingObjects(services.ctx.objects, lost, 1)
    await run_job(_deps(services, objects=objects), job.id)
    done = await services.ctx.stores.jobs.get(job.id)
    assert done is not None and (done.status, done.attempts) == (JobStatus.SUCCEEDED, 2)


async def test_a_duplicate_key_is_a_bug_not_an_outage(
    services: Services, client: httpx.AsyncClient, member: Member
) -> None:
    job = await _ingest_job(services, client, member)
    duplicate = translate(DuplicateKeyError("E11000 duplicate key"))
    objects = FailingObjects(services.ctx.objects, duplicate, 9)
    await run_job(_deps(services, objects=objects), job.id)
    failed = await services.ctx.stores.jobs.get(job.id)
    assert failed is not None
    assert (failed.status, failed.error_code, failed.attempts) == (
        JobStatus.FAILED, "internal_error", 1)
    assert failed.error_message == "DuplicateKey: E11000 duplicate key"
    assert objects.times == 8  # tried once, not retried
