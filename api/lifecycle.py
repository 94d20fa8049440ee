"""Starting the deletion of a project: a tracked job, followed in its head's own room (the
project's rooms are gone with it)."""

from __future__ import annotations

import logging
from functools import partial

from api.context import AppContext
from core.errors import ServiceUnavailable
from core.store.jobs import JobDoc, JobKind
from realtime.emitter import OUTBOX_KEY, Outbox

log = logging.getLogger("roomcast.api")


async def start_deletion(ctx: AppContext, project_id: str, by: str) -> JobDoc:
    """Store and queue the job that removes everything under the project. A queue that is
    down leaves it queued: a worker's sweeper sends it again (it is never lost)."""
    job = JobDoc(project_id=project_id, kind=JobKind.PROJECT_DELETION, created_by=by,
                 max_attempts=ctx.settings.job_max_attempts, stage="queued")
    await ctx.stores.jobs.create(job)
    room = f"user:{by}"
    payload = {"job_id": job.id, "project_id": project_id, "kind": job.kind.value,
               "stage": job.stage, "progress": 0, "status": job.status.value}
    outbox: Outbox = ctx.extras[OUTBOX_KEY]
    await outbox.send(room, f"job.progress of job {job.id} into {room}",
                      partial(ctx.emitter.emit, room, "job.progress", payload))
    try:
        await ctx.jobs.enqueue(job.kind.value, job.id)
    except ServiceUnavailable:
        log.warning("the deletion of project %s waits for the job queue", project_id)
    return job
