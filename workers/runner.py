"""Running one job to its end, exactly once in effect, whatever the broker redelivers.

The broker may hand the same job to several workers (a worker killed mid-job, a reclaimed
message). The job document decides: a worker runs it only after claiming its lease, renews
the lease while running, and finishes it with a conditional update that only the lease holder
can make, so a result is saved and announced once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from core.errors import ServiceUnavailable, StoreUnavailable
from core.ids import epoch_ms
from core.imports import import_serialized
from core.store.jobs import JobDoc, JobKind, JobStatus
from workers.announce import announce, announce_leftover, hold_ms, targets
from workers.deps import WorkerDeps
from workers.errors import JobCancelled, JobFailed, LeaseLost, TransientJobError
from workers.progress import JobProgressReporter
from workers.threads import job_threads

log = logging.getLogger("roomcast.workers")

Handler = Callable[[WorkerDeps, JobDoc, JobProgressReporter], Awaitable[dict[str, Any]]]
Discard = Callable[[WorkerDeps, JobDoc], Awaitable[None]]
# Each kind's module, its handler and its discard. A module is imported by the first job of its
# kind: NumPy, pyarrow, matplotlib and the parsers are not part of a process's start-up (a
# restarted `roomcast serve` answers its clients that much sooner).
JOBS: dict[JobKind, tuple[str, str, str]] = {
    JobKind.INGEST: ("workers.ingest.pipeline", "ingest", "discard"),
    JobKind.ANALYSIS: ("workers.ml.analysis", "analyse", "discard"),
    JobKind.PREDICTION: ("workers.ml.prediction", "predict_dataset", "discard"),
    JobKind.VISUALIZATION: ("workers.charts.job", "chart", "discard"),
    JobKind.PREVIEW: ("workers.previews.job", "make_preview", "discard"),
    JobKind.PROJECT_DELETION: ("workers.deletion", "delete_project", "discard"),
}


# Each kind's handler and discard once its module is imported whole.
_LOADED: dict[JobKind, tuple[Handler, Discard]] = {}


async def handlers(kind: JobKind) -> tuple[Handler, Discard]:
    """The job kind's handler and the discard of what a failed attempt left. The first job of
    a kind imports its module in a thread: NumPy, pyarrow or matplotlib take up to a second to
    import, which the event loop (every socket of an embedded `roomcast serve`) must not wait
    for (core/imports.py). A kind counts as loaded only once its module's import returned."""
    found = _LOADED.get(kind)
    if found is None:
        found = _LOADED[kind] = await asyncio.to_thread(_load, kind)
    return found


def _load(kind: JobKind) -> tuple[Handler, Discard]:
    module_name, run, discard = JOBS[kind]
    module = import_serialized(module_name)
    handler: Handler = getattr(module, run)
    drop: Discard = getattr(module, discard)
    return handler, drop


# Outages, worth another attempt. The store's other errors (StoreFailed: a duplicate key, a
# bad query) are a bug or bad data that a retry repeats: the job fails at once as an internal
# error.
TRANSIENT: tuple[type[BaseException], ...] = (
    TransientJobError, ServiceUnavailable, StoreUnavailable, ConnectionError, TimeoutError,
)
RERAISED: tuple[type[BaseException], ...] = (LeaseLost, *TRANSIENT)


async def run_job(deps: WorkerDeps, job_id: str) -> None:
    """Run the job if it still needs running; return quietly if it is done or gone."""
    with job_threads(deps.threads):
        await _run_job(deps, job_id)


async def _run_job(deps: WorkerDeps, job_id: str) -> None:
    job = await _claim(deps, job_id)
    if job is None:
        # Finished already, perhaps without its end reaching the rooms (Redis was down).
        await announce_leftover(deps, job_id)
        return
    if job.attempts > job.max_attempts:
        # Workers died on it every time: keep it, failed, for inspection.
        await _dead_letter(deps, job, JobFailed(
            "too_many_attempts", f"no worker finished it in {job.max_attempts} attempts"))
        return
    deps.metrics.job_started(job)
    try:
        await _run_claimed(deps, job)
    except asyncio.CancelledError:
        # The worker is stopping: let another take the job over without waiting for the lease.
        await asyncio.shield(deps.stores.jobs.release(job.id, deps.worker_id))
        raise
    finally:
        deps.metrics.job_left(job)


async def free_to_take(deps: WorkerDeps, job_id: str) -> bool:
    """Whether no live worker holds the job: never claimed, its lease lapsed, or it is over
    (its message then only needs acknowledging)."""
    job = await deps.stores.jobs.get(job_id)
    return job is None or job.finished or job.lease_until <= epoch_ms()


async def _run_claimed(deps: WorkerDeps, job: JobDoc) -> None:
    # No event at the claim: the API announced the job queued, and the first step's stage
    # change tells the rooms it runs.
    while True:
        try:
            await _attempt(deps, job)
            return
        except LeaseLost:
            log.warning("job %s was taken over by another worker", job.id)
            return
        except TRANSIENT as exc:
            latest = await deps.stores.jobs.get(job.id)
            attempts = latest.attempts if latest else job.attempts
            if attempts >= job.max_attempts:
                await _dead_letter(deps, job, JobFailed("transient_error", f"gave up: {exc!r}"))
                return
            delay = deps.settings.job_retry_base_seconds * 2 ** (attempts - 1)
            log.warning("job %s attempt %d failed (%r); retrying in %.1fs",
                        job.id, attempts, exc, delay)
            await asyncio.sleep(delay)
            await deps.stores.jobs.count_attempt(job.id, deps.worker_id)
            deps.metrics.job_retried(job)


async def _claim(deps: WorkerDeps, job_id: str) -> JobDoc | None:
    """Claim the job; None when it is finished, gone, or run by a worker that is alive.

    A redelivered message finds the job's lease held. Waiting for that job to end would hold
    one of this worker's slots for as long; instead it waits only to learn whether the holder
    is alive (it renews the lease at least every third of it) or dead (the lease lapses, and
    the claim succeeds). A live holder's own message is still pending, and the sweeper re-sends
    the job should the holder die later.
    """
    seen_until: int | None = None
    while True:
        job = await deps.stores.jobs.claim(job_id, deps.worker_id, deps.lease_ms)
        if job is not None:
            return job
        current = await deps.stores.jobs.get(job_id)
        if current is None or current.finished:
            return None
        if seen_until is not None and current.lease_until > max(seen_until, epoch_ms()):
            log.info("job %s is run by live worker %s; this delivery is dropped",
                     job_id, current.lease_owner)
            return None
        if seen_until is None:
            seen_until = current.lease_until
        await asyncio.sleep(max(0.1, min(1.0, (current.lease_until - epoch_ms()) / 1000)))


async def _attempt(deps: WorkerDeps, job: JobDoc) -> None:
    run, discard = await handlers(job.kind)
    report = JobProgressReporter(deps, job)
    renewing = asyncio.create_task(report.keep_alive())
    try:
        result = await run(deps, job, report)
    except JobCancelled:
        await discard(deps, job)
        await _end(deps, job, JobStatus.CANCELLED, stage="cancelled")
        return
    except JobFailed as exc:
        await discard(deps, job)
        await _fail(deps, job, exc)
        return
    except RERAISED:
        raise
    except Exception as exc:
        log.exception("job %s failed unexpectedly", job.id)
        await discard(deps, job)
        await _fail(deps, job, JobFailed("internal_error", f"{type(exc).__name__}: {exc}"))
        return
    finally:
        renewing.cancel()
    result = await _with_urls(deps, job, result)
    done = await _end(deps, job, JobStatus.SUCCEEDED, stage="done", progress=100,
                      result=result, dataset_id=result.get("dataset_id", job.dataset_id))
    if done is None:
        # Cancelled or taken over at the last moment: what this run wrote is not the result.
        log.warning("job %s finished but was no longer ours", job.id)


async def _with_urls(deps: WorkerDeps, job: JobDoc, result: dict[str, Any]) -> dict[str, Any]:
    for picture in result.get("pictures", []):
        name = picture["name"]
        picture["url"] = f"/api/v1/jobs/{job.id}/artifacts/{name}"
        picture["presigned_url"] = await deps.objects.presigned_url(picture["key"])
    return result


async def _dead_letter(deps: WorkerDeps, job: JobDoc, exc: JobFailed) -> None:
    """Fail the job for good, first removing what an earlier (crashed) attempt wrote."""
    _, discard = await handlers(job.kind)
    deps.metrics.job_dead_lettered(job)
    try:
        await discard(deps, job)
    except TRANSIENT as error:
        # Outputs are visible through the dataset document (deleted first) or the job's result
        # (none on a failed job): an object left behind is unreachable. Fail the job anyway.
        log.warning("cleaning up after job %s failed: %r", job.id, error)
    await _fail(deps, job, exc)


async def _fail(deps: WorkerDeps, job: JobDoc, exc: JobFailed) -> None:
    await _end(deps, job, JobStatus.FAILED, stage="failed", error_code=exc.code,
               error_message=exc.message)


async def _end(deps: WorkerDeps, job: JobDoc, status: JobStatus, **fields: Any) -> JobDoc | None:
    # The end and who is owed its announcement are recorded together: whatever happens next,
    # a worker or the sweeper finds what is still to publish on the job itself.
    final = await deps.stores.jobs.finish(
        job.id, deps.worker_id, status, announce_pending=targets(job),
        announce_until=epoch_ms() + hold_ms(deps), **fields)
    if final is None:
        return None
    deps.metrics.job_ended(job, status)
    await announce(deps, final, patience=deps.settings.job_lease_seconds)
    return final
