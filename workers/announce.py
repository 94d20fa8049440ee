"""Announcing a job's end once: the dataset it made (`dataset.created`), the final event into
its rooms, the creator's notification.

Progress events may be dropped (the next one supersedes them); the final event may not. When a
worker finishes a job, the same conditional update records, on the job document, every target
still owed the announcement (`announce_pending`: the dataset it stored, the job's and the
project's rooms, and the notification, which the creator's preferences may turn off or also
mail) and that this worker is announcing it (`announce_until`). Each target is struck
off once published. A worker that cannot reach Redis retries with backoff for up to
JOB_LEASE_SECONDS, then leaves the rest recorded; a redelivery of the job's message, or the
sweeper, publishes it later. A target is published again only if a process died between
publishing it and striking it off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial
from typing import Any

from core.errors import RoomcastError
from core.notices import Notices
from core.store.datasets import DatasetView
from core.store.jobs import NOTIFICATION, JobDoc, JobKind, JobStatus
from workers.deps import WorkerDeps
from workers.progress import job_payload, job_rooms

log = logging.getLogger("roomcast.workers")

FINAL_EVENTS = {
    JobStatus.SUCCEEDED: "job.completed", JobStatus.FAILED: "job.failed",
    JobStatus.CANCELLED: "job.cancelled",
}
# The realtime contract's names for a user's room and its notification event: workers reach
# realtime/ only through the emitter, whose `notify` would store a second copy on a retry.
USER_ROOM = "user:{}"
NOTIFICATION_EVENT = "notification"
# The announcement target for the dataset a job stored (realtime.contract.DATASET_CREATED, into
# the project's room), owed by the kinds that store one and published only if they succeeded.
DATASET = "dataset"
DATASET_CREATED = "dataset.created"
DATASET_KINDS = (JobKind.INGEST, JobKind.PREDICTION)
FIRST_DELAY = 0.2
MAX_DELAY = 5.0


# Kinds whose end is not notified: a preview follows every upload of an image or PDF (the
# rooms hear of it), and a deleted project's data must leave no notification behind.
UNNOTIFIED = (JobKind.PREVIEW, JobKind.PROJECT_DELETION)


def targets(job: JobDoc) -> list[str]:
    # The dataset first: when a room hears the job completed, its dataset has been announced.
    made = [DATASET] if job.kind in DATASET_KINDS else []
    notified = [] if job.kind in UNNOTIFIED else [NOTIFICATION]
    return [*made, *job_rooms(job), *notified]


def hold_ms(deps: WorkerDeps) -> int:
    """How long one announcer keeps others off: its whole retry window, and as much again."""
    return 2 * deps.lease_ms


def final_payload(job: JobDoc) -> dict[str, Any]:
    extra: dict[str, Any] = {"result": job.result} if job.result is not None else {}
    if job.error_code:
        extra["error"] = {"code": job.error_code, "message": job.error_message}
    return job_payload(job, **extra)


async def announce(deps: WorkerDeps, job: JobDoc, *, patience: float) -> bool:
    """Publish what the finished job still owes, retrying for `patience` seconds; True when
    nothing is left owed."""
    deadline = time.monotonic() + patience
    delay = FIRST_DELAY
    for target in job.announce_pending:
        while True:
            try:
                await _publish(deps, job, target)
                break
            except RoomcastError as exc:
                if time.monotonic() + delay > deadline:
                    log.warning("the end of job %s is not announced to %s yet (%s); left for "
                                "a redelivery or the sweeper", job.id, target, exc)
                    await deps.stores.jobs.release_announcement(job.id)
                    return False
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_DELAY)
        await deps.stores.jobs.announced(job.id, target)
    return True


async def announce_leftover(deps: WorkerDeps, job_id: str) -> None:
    """Publish the end of a finished job if it is still owed and nobody else is at it."""
    job = await deps.stores.jobs.take_announcement(job_id, hold_ms(deps))
    if job is not None:
        log.info("announcing the end of job %s, left over", job_id)
        await announce(deps, job, patience=deps.settings.job_lease_seconds)


async def _publish(deps: WorkerDeps, job: JobDoc, target: str) -> None:
    if target == DATASET:
        await _publish_dataset(deps, job)
        return
    if target != NOTIFICATION:
        await deps.emitter.emit(target, FINAL_EVENTS[job.status], final_payload(job))
        return
    # As the creator's preferences say (channel for the kind, muted project), like every
    # notification. It takes the job's id, and its mail an id made from it, so a retry finds
    # them stored instead of adding others.
    notices = Notices(deps.stores, deps.post, partial(_deliver_once, deps))
    await notices.send(
        job.created_by, FINAL_EVENTS[job.status], _title(job), job.error_message or "",
        {"job_id": job.id, "project_id": job.project_id, "status": job.status.value},
        notice_id=job.id)


async def _deliver_once(deps: WorkerDeps, user_id: str, *, kind: str, title: str, body: str,
                        data: dict[str, Any], notice_id: str | None) -> dict[str, Any]:
    assert notice_id is not None
    stored = await deps.stores.notifications.create_once(
        notice_id, user_id, kind=kind, title=title, body=body, data=data)
    payload: dict[str, Any] = stored.model_dump(mode="json")
    await deps.emitter.emit(USER_ROOM.format(user_id), NOTIFICATION_EVENT, payload)
    return payload


async def _publish_dataset(deps: WorkerDeps, job: JobDoc) -> None:
    dataset_id = (job.result or {}).get("dataset_id")
    if job.status != JobStatus.SUCCEEDED or not dataset_id:
        return
    dataset = await deps.stores.datasets.get(dataset_id)
    if dataset is None:
        return  # deleted before it was announced: `dataset.deleted` told the room
    payload = {"dataset": DatasetView.of(dataset).model_dump(mode="json"),
               "by": job.created_by, "job_id": job.id}
    await deps.emitter.emit(f"project:{job.project_id}", DATASET_CREATED, payload)


def _title(job: JobDoc) -> str:
    verb = {JobStatus.SUCCEEDED: "finished", JobStatus.FAILED: "failed"}.get(
        job.status, "was cancelled")
    names = {JobKind.INGEST: "Ingestion", JobKind.PREDICTION: "Prediction",
             JobKind.VISUALIZATION: "Chart", JobKind.PREVIEW: "Preview",
             JobKind.PROJECT_DELETION: "Project deletion"}
    return f"{names.get(job.kind, 'Analysis')} {verb}"
