"""A job's end (and the dataset it made) reaches its rooms and its creator once, even when
Redis is down as it ends: stopped around the end of a job, then started again."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from api.app import create_app
from core.store.jobs import NOTIFICATION, JobDoc, JobStatus
from core.store.stores import Stores
from realtime.emitter import KEY_PREFIX
from roomcast.factory import Services, build_services
from tests.integration.workers.conftest import Member, upload
from tests.integration.workers.test_pipeline_embedded import blobs_csv
from tests.support.domain import make_user
from tests.support.services import RedisServer, start_redis
from workers.announce import DATASET
from workers.deps import WorkerDeps
from workers.runner import run_job
from workers.sweeper import announce_leftovers


@dataclasses.dataclass
class Outage:
    services: Services
    redis: RedisServer
    http: httpx.AsyncClient
    member: Member

    @property
    def stores(self) -> Stores:
        return self.services.ctx.stores

    @property
    def deps(self) -> WorkerDeps:
        assert self.services.jobs is not None and self.services.jobs.deps is not None
        return self.services.jobs.deps

    def restart_redis(self) -> None:
        self.redis.proc = start_redis(self.redis.port).proc


def outage_fixture(lease_seconds: float) -> Callable[..., AsyncIterator[Outage]]:
    async def fixture(make_settings: Any) -> AsyncIterator[Outage]:
        redis = start_redis()
        services = build_services(make_settings(
            redis_url=redis.url, job_step_delay_ms=150, job_lease_seconds=lease_seconds))
        await services.start()
        caller = await make_user(services, "uploader")
        project = await services.ctx.stores.projects.create(name="P", owner_id=caller.id)
        transport = httpx.ASGITransport(app=create_app(services.ctx))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                yield Outage(services, redis, http, Member(caller, project.id))
        finally:
            await services.close()
            redis.kill()

    return fixture


patient = pytest.fixture(outage_fixture(lease_seconds=20), name="patient")
hasty = pytest.fixture(outage_fixture(lease_seconds=1), name="hasty")


async def _until(check: Callable[[], Any], what: str, bound: float = 30) -> Any:
    """Poll `check` until it answers something true (bounded; not a timing assertion)."""
    deadline = asyncio.get_running_loop().time() + bound
    while not (found := await check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.01)
    return found


async def _job(outage: Outage, job_id: str) -> JobDoc:
    job = await outage.stores.jobs.get(job_id)
    assert job is not None
    return job


async def _end_job_without_redis(outage: Outage) -> JobDoc:
    response = await upload(outage.http, outage.member, "p.csv", blobs_csv(30))
    job_id = response.json()["job_id"]

    async def near_the_end() -> bool:
        return (await _job(outage, job_id)).stage in ("profiling", "writing")

    await _until(near_the_end, "the job reached its last steps")
    outage.redis.kill()

    async def finished() -> JobDoc | None:
        job = await _job(outage, job_id)
        return job if job.finished else None

    job: JobDoc = await _until(finished, "the job finished")
    assert job.status == JobStatus.SUCCEEDED
    # Nothing of the end got out, and the job says so.
    assert job.announce_pending == [DATASET, f"job:{job_id}", f"project:{job.project_id}",
                                    NOTIFICATION]
    return job


async def _published(outage: Outage, job: JobDoc) -> dict[str, list[str]]:
    """The events stored in each room's stream (what a client reads or recovers)."""
    rooms = [f"job:{job.id}", f"project:{job.project_id}", f"user:{job.created_by}"]
    async with aioredis.Redis.from_url(outage.redis.url) as redis:
        found = {}
        for room in rooms:
            entries = await redis.xrange(f"{KEY_PREFIX}stream:{room}")
            found[room] = [fields[b"f"].decode() for _, fields in entries]
    return found


async def _assert_announced_once(outage: Outage, job: JobDoc) -> None:
    published = await _published(outage, job)
    for room in (f"job:{job.id}", f"project:{job.project_id}"):
        assert sum('"job.completed"' in frame for frame in published[room]) == 1, published
    project_room = published[f"project:{job.project_id}"]
    created = [frame for frame in project_room if '"dataset.created"' in frame]
    assert len(created) == 1 and job.id in created[0], project_room
    # Before the job's end, so a room that hears of the end knows the dataset already.
    assert project_room.index(created[0]) < next(
        i for i, frame in enumerate(project_room) if '"job.completed"' in frame)
    notices = [f for f in published[f"user:{job.created_by}"] if job.id in f]
    assert len(notices) == 1 and '"kind":"job.completed"' in notices[0]
    stored = (await outage.http.get("/api/v1/notifications",
                                    headers=outage.member.headers)).json()["items"]
    assert [n["kind"] for n in stored if n["data"]["job_id"] == job.id] == ["job.completed"]


async def test_the_finishing_worker_publishes_the_end_once_redis_is_back(
    patient: Outage,
) -> None:
    job = await _end_job_without_redis(patient)
    patient.restart_redis()

    async def announced() -> bool:
        return (await _job(patient, job.id)).announce_pending == []

    await _until(announced, "the worker published the end")
    await _assert_announced_once(patient, job)
    # A redelivery and a sweep later find nothing owed: no second "done".
    await run_job(patient.deps, job.id)
    assert await announce_leftovers(patient.deps) == 0
    await _assert_announced_once(patient, job)


@pytest.mark.parametrize("later", ["redelivery", "sweeper"])
async def test_an_end_left_unpublished_is_published_later_once(
    hasty: Outage, later: str
) -> None:
    job = await _end_job_without_redis(hasty)

    async def given_up() -> bool:  # retried for a lease period, then left recorded
        return (await _job(hasty, job.id)).announce_until == 0

    await _until(given_up, "the worker left the end for later")
    assert (await _job(hasty, job.id)).announce_pending != []
    hasty.restart_redis()
    if later == "redelivery":
        await run_job(hasty.deps, job.id)
        assert await announce_leftovers(hasty.deps) == 0
    else:
        assert await announce_leftovers(hasty.deps) == 1
        await run_job(hasty.deps, job.id)
    assert (await _job(hasty, job.id)).announce_pending == []
    await _assert_announced_once(hasty, job)
