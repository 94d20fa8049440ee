"""The project-deletion job: everything a deleted project left, collection by collection
(core/store/cascade.py), with its progress in the head's own room.

The API has already removed the project document (nobody can reach the project any more),
told its members and taken their sockets out of its rooms. This job first stops the
project's other jobs, so that none writes a dataset or a picture after the cleanup passed it,
then runs every cleanup; each is idempotent, so a rerun after a worker died finishes it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from core.ids import epoch_ms
from core.store.cascade import PROJECT_CLEANUPS, Cascade
from core.store.jobs import ACTIVE, JobDoc, JobStatus
from workers.deps import WorkerDeps
from workers.progress import JobProgressReporter

POLL_SECONDS = 0.2


async def delete_project(deps: WorkerDeps, job: JobDoc,
                         report: JobProgressReporter) -> dict[str, Any]:
    await report.step("stopping jobs", 1)
    stopped = await _stop_jobs(deps, job, report)
    cascade = Cascade(deps.stores, deps.objects, job.project_id, keep_job_id=job.id)
    removed: dict[str, int] = {}
    for index, (name, cleanup) in enumerate(PROJECT_CLEANUPS):
        await report.step("deleting", 5 + 90 * index / len(PROJECT_CLEANUPS))
        removed[name] = await cleanup(cascade)
    await deps.stores.projects.delete(job.project_id)  # gone already, unless restored since
    return {"project_id": job.project_id, "jobs_stopped": stopped, "removed": removed}


async def discard(deps: WorkerDeps, job: JobDoc) -> None:
    """Nothing to undo: what was deleted stays deleted, and a new deletion finishes it."""


async def _stop_jobs(deps: WorkerDeps, job: JobDoc, report: JobProgressReporter) -> int:
    """Cancel the project's unfinished jobs and wait (at most twice a lease) for the running
    ones to stop or for their leases to lapse."""
    jobs = deps.stores.db["jobs"]
    query = {"project_id": job.project_id, "status": {"$in": ACTIVE}, "_id": {"$ne": job.id}}
    running = [doc["_id"] async for doc in jobs.find(query, {"_id": 1})]
    for job_id in running:
        await deps.stores.jobs.request_cancel(job_id)
        await deps.stores.jobs.finish(job_id, None, JobStatus.CANCELLED, stage="cancelled")
    deadline = time.monotonic() + 2 * deps.settings.job_lease_seconds
    while time.monotonic() < deadline:
        busy = await jobs.count_documents({**query, "lease_until": {"$gte": epoch_ms()}})
        if not busy:
            break
        await report.step("stopping jobs", 3)
        await asyncio.sleep(POLL_SECONDS)
    return len(running)
