"""Progress reporting: throttled for clients, every stage change shown, cancel noticed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from core.store.database import open_mongo
from core.store.jobs import JobDoc, JobKind
from core.store.stores import Stores
from workers.deps import WorkerDeps
from workers.errors import JobCancelled, LeaseLost
from workers.progress import JobProgressReporter


class ListEmitter:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    async def emit(self, room: str, event: str, data: dict[str, Any]) -> int:
        self.events.append((room, event, data))
        return len(self.events)

    async def notify(self, user_id: str, **kw: Any) -> dict[str, Any]:
        return {}

    async def membership_revoked(self, user_id: str, project_id: str) -> None:
        return None

    async def user_ended(self, user_id: str, code: str) -> None:
        return None


async def _setup(data_dir: Path, **settings: Any) -> tuple[WorkerDeps, JobDoc, ListEmitter]:
    config = Settings(env="test", _env_file=None, data_dir=data_dir, **settings)  # type: ignore[call-arg]
    _, db = open_mongo(config)
    stores = Stores.over(db)
    emitter = ListEmitter()
    deps = WorkerDeps(config, stores, objects=None, emitter=emitter)  # type: ignore[arg-type]
    job = await stores.jobs.create(JobDoc(project_id="p", kind=JobKind.INGEST, created_by="u"))
    claimed = await stores.jobs.claim(job.id, deps.worker_id, deps.lease_ms)
    assert claimed is not None
    return deps, claimed, emitter


async def test_updates_are_throttled_but_stage_changes_always_go_out(tmp_path: Path) -> None:
    deps, job, emitter = await _setup(tmp_path, job_progress_per_second=5)
    report = JobProgressReporter(deps, job)
    started = time.monotonic()
    for i in range(200):
        await report.step("reading", i / 2)
    await report.step("writing", 100)
    elapsed = time.monotonic() - started
    progress = [e for e in emitter.events if e[0].startswith("job:")]
    # At most one per 1/5 s, plus the first and the stage change.
    assert len(progress) <= 2 + int(elapsed * 5) + 1
    assert progress[-1][2]["stage"] == "writing"
    assert {room for room, _, _ in emitter.events} == {f"job:{job.id}", "project:p"}


async def test_a_cancel_request_stops_the_next_step(tmp_path: Path) -> None:
    deps, job, _ = await _setup(tmp_path)
    report = JobProgressReporter(deps, job)
    await deps.stores.jobs.request_cancel(job.id)
    with pytest.raises(JobCancelled):
        await report.step("reading", 10)


async def test_a_job_taken_over_stops_its_old_worker(tmp_path: Path) -> None:
    deps, job, _ = await _setup(tmp_path)
    report = JobProgressReporter(deps, job)
    await deps.stores.jobs._c.update_one({"_id": job.id}, {"$set": {"lease_owner": "other"}})
    with pytest.raises(LeaseLost):
        await report.step("reading", 10)


async def test_the_lease_is_renewed_while_a_step_runs_long(tmp_path: Path) -> None:
    deps, job, _ = await _setup(tmp_path, job_lease_seconds=0.3)
    report = JobProgressReporter(deps, job)
    renewing = asyncio.create_task(report.keep_alive())
    try:
        async with asyncio.timeout(20):  # a bound, not a timing assertion
            while True:
                await asyncio.sleep(0.05)
                current = await deps.stores.jobs.get(job.id)
                assert current is not None
                if current.lease_until > job.lease_until:
                    break
    finally:
        renewing.cancel()
    assert current.lease_owner == deps.worker_id


class CountingReporter:
    """Stands in for the job's reporter: counts the steps that were run."""

    def __init__(self) -> None:
        self.steps = 0

    async def step(self, stage: str, progress: float) -> None:
        self.steps += 1


def test_a_computation_reporting_after_its_loop_closed_stops_and_leaves_no_coroutine() -> None:
    from workers.ml.analysis import _Thread

    reporter = CountingReporter()
    loop = asyncio.new_event_loop()

    async def make() -> _Thread:
        return _Thread(reporter, "training", 10, 80)  # type: ignore[arg-type]

    report = loop.run_until_complete(make())
    loop.close()
    # Every coroutine made and dropped would be an "never awaited" warning, an error here.
    with pytest.raises(JobCancelled):
        report(0.5)
    assert reporter.steps == 0
