"""The job runner's guarantees, on the embedded default: cancel, retries, redelivery."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import numpy as np
import pytest

from api.app import create_app
from core.errors import ServiceUnavailable
from core.objects import ObjectStorage
from core.store.jobs import JobDoc, JobKind, JobStatus
from roomcast.factory import Services, build_services
from tests.integration.workers.conftest import Member, upload, wait_job
from tests.integration.workers.test_pipeline_embedded import blobs_csv
from tests.support.domain import RecordingEmitter, make_user
from tests.support.services import eventually
from workers.deps import WorkerDeps
from workers.ingest.pipeline import dataset_key
from workers.progress import JobProgressReporter
from workers.runner import run_job
from workers.sweeper import stale_after_ms, sweep_once


async def _services_pausing(make_settings: Any, delay_ms: int) -> AsyncIterator[Services]:
    """Services whose jobs pause at every step, and whose every step is due to check for a
    cancel (the pause outlasts the progress interval), so a test can act while one runs."""
    built = build_services(make_settings(job_step_delay_ms=delay_ms,
                                         job_progress_per_second=1000 / delay_ms))
    await built.start()
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
async def slow_services(make_settings: Any) -> AsyncIterator[Services]:
    async for built in _services_pausing(make_settings, 5):
        yield built


class StepGate:
    """Holds the first job step that `when` picks until the test opens the gate.

    A step from inside a computation blocks that computation (analysis.py `_Thread`), so
    whatever the test does while the gate is shut happens at a point it chose, not in a race
    with the job.
    """

    def __init__(self, when: Callable[[str, float], bool]) -> None:
        self.when = when
        self.reached = asyncio.Event()
        self.opened = asyncio.Event()
        self.held: tuple[str, float] | None = None

    def install(self, monkeypatch: pytest.MonkeyPatch) -> StepGate:
        original = JobProgressReporter.step
        gate = self

        async def step(reporter: JobProgressReporter, stage: str, progress: float) -> None:
            if not gate.reached.is_set() and gate.when(stage, progress):
                gate.held = (stage, progress)
                gate.reached.set()
                await asyncio.wait_for(gate.opened.wait(), 60)
            await original(reporter, stage, progress)

        monkeypatch.setattr(JobProgressReporter, "step", step)
        return self

    async def wait(self) -> tuple[str, float]:
        await asyncio.wait_for(self.reached.wait(), 60)
        assert self.held is not None
        return self.held


@contextlib.asynccontextmanager
async def _signed_in(services: Services) -> AsyncIterator[tuple[Member, httpx.AsyncClient]]:
    """A member with a project of their own, and a REST client for the services."""
    caller = await make_user(services, "member")
    project = await services.ctx.stores.projects.create(name="P", owner_id=caller.id)
    transport = httpx.ASGITransport(app=create_app(services.ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield Member(caller, project.id), http


async def test_cancel_stops_a_running_job(
    slow_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = StepGate(lambda stage, _: stage == "reading").install(monkeypatch)
    async with _signed_in(slow_services) as (member, http):
        job_id = (await upload(http, member, "p.csv", blobs_csv())).json()["job_id"]
        await gate.wait()  # the job is reading its file and cannot go further
        cancelled = await http.post(f"/api/v1/jobs/{job_id}/cancel", headers=member.headers)
        assert cancelled.status_code == 202
        gate.opened.set()
        job = await wait_job(http, member, job_id)
        assert job["status"] == "cancelled"
        assert job["progress"] < 100
        assert await slow_services.ctx.stores.datasets.get(job_id) is None
        again = await http.post(f"/api/v1/jobs/{job_id}/cancel", headers=member.headers)
        assert again.status_code == 409


def noise_csv(rows: int = 20_000, features: int = 6) -> bytes:
    """Labels unrelated to the features: a decision tree grows deep and takes a while."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, features))
    labels = rng.integers(0, 3, size=rows)
    lines = [",".join([*(f"f{j}" for j in range(features)), "label"])]
    lines += [",".join([*(f"{v:.5f}" for v in row), "abc"[c]]) for row, c in zip(x, labels,
                                                                               strict=True)]
    return ("\n".join(lines) + "\n").encode()


async def test_cancel_stops_a_decision_tree_inside_its_fit(
    slow_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A report from inside the fit (training spans 10-80) holds the fit's thread until the
    # cancel is stored: the fit cannot end first, and the cancel can only be seen inside it.
    gate = StepGate(lambda stage, progress: stage == "training" and 10 < progress < 80)
    gate.install(monkeypatch)
    async with _signed_in(slow_services) as (member, http):
        ingest = (await upload(http, member, "noise.csv", noise_csv())).json()["job_id"]
        dataset_id = (await wait_job(http, member, ingest))["result"]["dataset_id"]
        started = await http.post(f"/api/v1/datasets/{dataset_id}/analyses", json={
            "algorithm": "decision_tree", "target": "label"}, headers=member.headers)
        job_id = started.json()["job_id"]
        _, held_at = await gate.wait()
        cancel = await http.post(f"/api/v1/jobs/{job_id}/cancel", headers=member.headers)
        assert cancel.status_code == 202
        gate.opened.set()
        done = await wait_job(http, member, job_id)
    assert (done["status"], done["result"]) == ("cancelled", None)
    assert done["progress"] == int(held_at)  # stopped at that report, before scoring
    for name in ("importances.png", "confusion.png"):
        assert not await slow_services.ctx.objects.exists(f"artifacts/{job_id}/{name}")


async def _ingest_job(services: Services, client: httpx.AsyncClient, member: Member) -> JobDoc:
    body = (await upload(client, member, "p.csv", blobs_csv(30))).json()
    await wait_job(client, member, body["job_id"])
    # A fresh job over the same upload, run by hand below.
    job = JobDoc(project_id=member.project_id, kind=JobKind.INGEST, created_by=member.caller.id,
                 upload_id=body["upload"]["id"], max_attempts=3)
    return await services.ctx.stores.jobs.create(job)


def _deps(services: Services, **changes: Any) -> WorkerDeps:
    assert services.jobs is not None and services.jobs.deps is not None
    return dataclasses.replace(services.jobs.deps, **changes)


async def test_a_redelivered_job_neither_reruns_nor_announces_twice(
    services: Services, client: httpx.AsyncClient, member: Member
) -> None:
    job = await _ingest_job(services, client, member)
    recording = RecordingEmitter(_deps(services).emitter)
    deps = _deps(services, emitter=recording)
    await run_job(deps, job.id)
    await run_job(dataclasses.replace(deps, worker_id="another"), job.id)
    done = [c for c in recording.calls if c[0] == "emit" and c[1][1] == "job.completed"]
    assert len(done) == 2  # one event, into job:{id} and project:{id}
    created = [c[1] for c in recording.calls if c[0] == "emit" and c[1][1] == "dataset.created"]
    assert [(room, data["dataset"]["id"]) for room, _, data in created] == [
        (f"project:{member.project_id}", job.id)]
    stored = await services.ctx.stores.jobs.get(job.id)
    assert stored is not None and stored.attempts == 1


class FlakyObjects:
    """Object storage whose first `failures` downloads fail as if S3 were unreachable."""

    def __init__(self, inner: ObjectStorage, failures: int) -> None:
        self._inner = inner
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def open_stream(self, key: str) -> AsyncIterator[bytes]:
        if self.failures > 0:
            self.failures -= 1
            raise ServiceUnavailable("object storage is unreachable")
        return self._inner.open_stream(key)


async def test_transient_failures_are_retried_then_dead_lettered(
    services: Services, client: httpx.AsyncClient, member: Member
) -> None:
    inner = services.ctx.objects
    job = await _ingest_job(services, client, member)
    await run_job(_deps(services, objects=FlakyObjects(inner, 1)), job.id)
    retried = await services.ctx.stores.jobs.get(job.id)
    assert retried is not None
    assert (retried.status, retried.attempts) == (JobStatus.SUCCEEDED, 2)

    doomed = await _ingest_job(services, client, member)
    await run_job(_deps(services, objects=FlakyObjects(inner, 99)), doomed.id)
    failed = await services.ctx.stores.jobs.get(doomed.id)
    assert failed is not None
    assert (failed.status, failed.error_code, failed.attempts) == (
        JobStatus.FAILED, "transient_error", 3)


async def test_a_job_that_killed_every_worker_is_dead_lettered(
    services: Services, client: httpx.AsyncClient, member: Member
) -> None:
    job = await _ingest_job(services, client, member)
    await services.ctx.stores.jobs._c.update_one({"_id": job.id}, {"$set": {"attempts": 3}})
    await run_job(_deps(services), job.id)
    failed = await services.ctx.stores.jobs.get(job.id)
    assert failed is not None
    assert (failed.status, failed.error_code) == (JobStatus.FAILED, "too_many_attempts")


async def _left_by_a_crashed_attempt(services: Services, job: JobDoc) -> str:
    """What an attempt that died after writing its output leaves: a dataset and its rows."""
    upload_doc = await services.ctx.stores.uploads.get(job.upload_id or "")
    assert upload_doc is not None and upload_doc.job_id is not None
    earlier = await services.ctx.stores.datasets.get(upload_doc.job_id)
    assert earlier is not None
    key = dataset_key(job.id)
    rows = await services.ctx.objects.get_bytes(earlier.object_key)
    await services.ctx.objects.put_bytes(key, rows, content_type="application/octet-stream")
    await services.ctx.stores.datasets.save(earlier.model_copy(
        update={"id": job.id, "job_id": job.id, "object_key": key}))
    return key


@pytest.mark.parametrize("code", ["too_many_attempts", "transient_error"])
async def test_a_dead_letter_removes_what_an_earlier_attempt_left(
    services: Services, client: httpx.AsyncClient, member: Member, code: str
) -> None:
    job = await _ingest_job(services, client, member)
    key = await _left_by_a_crashed_attempt(services, job)
    deps = _deps(services)
    if code == "too_many_attempts":
        await services.ctx.stores.jobs._c.update_one({"_id": job.id}, {"$set": {"attempts": 3}})
    else:
        deps = _deps(services, objects=FlakyObjects(services.ctx.objects, 99))
    await run_job(deps, job.id)
    failed = await services.ctx.stores.jobs.get(job.id)
    assert failed is not None and (failed.status, failed.error_code) == (JobStatus.FAILED, code)
    assert await services.ctx.stores.datasets.get(job.id) is None
    assert not await services.ctx.objects.exists(key)
    listed = (await client.get(f"/api/v1/projects/{member.project_id}/datasets",
                               headers=member.headers)).json()
    assert job.id not in {d["id"] for d in listed["items"]}


async def test_a_job_held_by_a_live_worker_waits_for_it(
    services: Services, client: httpx.AsyncClient, member: Member,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job = await _ingest_job(services, client, member)
    held = await services.ctx.stores.jobs.claim(job.id, "live-worker", 60_000)
    assert held is not None
    jobs = services.ctx.stores.jobs
    tries: list[str] = []

    async def claim(job_id: str, worker_id: str, lease_ms: int) -> JobDoc | None:
        tries.append(worker_id)
        return await type(jobs).claim(jobs, job_id, worker_id, lease_ms)

    monkeypatch.setattr(jobs, "claim", claim)
    waiting = asyncio.create_task(run_job(_deps(services), job.id))
    await eventually(lambda: len(tries) >= 2, what="a second claim of the held job")
    assert not waiting.done()  # it tried twice, found the lease held, and still waits
    await services.ctx.stores.jobs.finish(job.id, "live-worker", JobStatus.SUCCEEDED)
    await asyncio.wait_for(waiting, 30)
    final = await services.ctx.stores.jobs.get(job.id)
    assert final is not None and final.attempts == 1
    assert final.lease_owner == "live-worker"


async def test_a_delivery_finding_a_live_holder_drops_out_without_waiting_for_the_job(
    services: Services, client: httpx.AsyncClient, member: Member
) -> None:
    job = await _ingest_job(services, client, member)
    jobs = services.ctx.stores.jobs
    assert await jobs.claim(job.id, "live-worker", 1500) is not None

    async def renew() -> None:  # what a live worker's keep-alive does
        while True:
            await asyncio.sleep(0.3)
            await jobs.heartbeat(job.id, "live-worker", 1500)

    renewing = asyncio.create_task(renew())
    try:
        # Returns once it has seen the holder renew, while the job still runs: it would
        # otherwise hold a worker slot for as long as the job takes.
        await asyncio.wait_for(run_job(_deps(services), job.id), 15)
        current = await jobs.get(job.id)
        assert current is not None
        assert (current.status, current.lease_owner, current.attempts) == (
            JobStatus.RUNNING, "live-worker", 1)
    finally:
        renewing.cancel()


async def test_the_sweeper_re_sends_an_abandoned_job_once(
    services: Services, client: httpx.AsyncClient, member: Member
) -> None:
    job = await _ingest_job(services, client, member)  # stored, never sent to the broker
    fresh = await _ingest_job(services, client, member)
    deps = _deps(services)
    long_ago = job.enqueued_ms - stale_after_ms(deps) - 1000
    await services.ctx.stores.jobs._c.update_one({"_id": job.id},
                                                 {"$set": {"enqueued_ms": long_ago}})
    sent: list[str] = []

    async def enqueue(kind: str, job_id: str) -> None:
        sent.append(job_id)
        await services.ctx.jobs.enqueue(kind, job_id)

    assert await sweep_once(deps, enqueue) == 1
    assert await sweep_once(deps, enqueue) == 0  # re-sent once, not at every sweep
    assert sent == [job.id]
    done = await wait_job(client, member, job.id)
    assert done["status"] == "succeeded"
    untouched = await services.ctx.stores.jobs.get(fresh.id)
    assert untouched is not None and untouched.status == JobStatus.QUEUED


async def test_a_stopping_worker_releases_its_job(
    slow_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _signed_in(slow_services) as (member, http):
        body = (await upload(http, member, "p.csv", blobs_csv())).json()
        await wait_job(http, member, body["job_id"])
        job = JobDoc(project_id=member.project_id, kind=JobKind.INGEST, created_by=member.caller.id,
                     upload_id=body["upload"]["id"])
        await slow_services.ctx.stores.jobs.create(job)
        gate = StepGate(lambda stage, _: stage == "reading").install(monkeypatch)
        running = asyncio.create_task(run_job(_deps(slow_services), job.id))
        await gate.wait()  # running, and held there until stopped
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
    released = await slow_services.ctx.stores.jobs.get(job.id)
    assert released is not None
    assert (released.status, released.lease_until) == (JobStatus.RUNNING, 0)
    assert await slow_services.ctx.stores.jobs.claim(job.id, "next", 1000) is not None


async def test_an_upload_deleted_before_its_ingestion_fails_it_cleanly(
    services: Services, client: httpx.AsyncClient, member: Member
) -> None:
    job = await _ingest_job(services, client, member)
    upload_doc = await services.ctx.stores.uploads.get(job.upload_id or "")
    assert upload_doc is not None
    await services.ctx.objects.delete(upload_doc.object_key)
    await run_job(_deps(services), job.id)
    failed = await services.ctx.stores.jobs.get(job.id)
    assert failed is not None
    assert (failed.status, failed.error_code) == (JobStatus.FAILED, "not_found")
