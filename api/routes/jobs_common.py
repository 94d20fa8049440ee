"""Jobs as the REST side sees them: creating and queuing one, and its public shape."""

from __future__ import annotations

from functools import partial
from typing import Any

from pydantic import BaseModel

from api.context import AppContext
from core.errors import ServiceUnavailable
from core.store.jobs import JobDoc, JobStatus, JobView
from realtime.emitter import OUTBOX_KEY, Outbox


class JobOut(JobView):
    """A job: status, stage, progress, attempts, error, result."""


class JobAccepted(BaseModel):
    job_id: str
    status: JobStatus
    location: str


def job_location(job_id: str) -> str:
    return f"/api/v1/jobs/{job_id}"


async def start_job(ctx: AppContext, job: JobDoc) -> JobDoc:
    """Store the job, then queue it; a queue that is down fails the job (and answers 503)."""
    await ctx.stores.jobs.create(job)
    # Announced before a worker can see it: "queued" reaches the rooms before anything the
    # worker reports (the worker itself sends nothing at the claim).
    await publish_job(ctx, job, "job.progress")
    try:
        await ctx.jobs.enqueue(job.kind.value, job.id)
    except ServiceUnavailable:
        failed = await ctx.stores.jobs.finish(
            job.id, None, JobStatus.FAILED, stage="failed", error_code="queue_unavailable",
            error_message="the job queue is unavailable")
        if failed is not None:
            await publish_job(ctx, failed, "job.failed", error={
                "code": failed.error_code, "message": failed.error_message})
        raise
    return job


async def publish_job(ctx: AppContext, job: JobDoc, event: str, **extra: Any) -> None:
    payload = {"job_id": job.id, "project_id": job.project_id, "kind": job.kind.value,
               "stage": job.stage, "progress": job.progress, "status": job.status.value, **extra}
    # A publish that fails (Redis is down) is retried in the background, in order per room.
    outbox: Outbox = ctx.extras[OUTBOX_KEY]
    for room in (f"job:{job.id}", f"project:{job.project_id}"):
        await outbox.send(room, f"{event} of job {job.id} into {room}",
                          partial(ctx.emitter.emit, room, event, payload))
