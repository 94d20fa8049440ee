"""Reporting a running job: progress into its rooms, lease heartbeats, cancellation checks.

Every step of a task goes through `JobProgressReporter.step`, which is therefore where a job
notices it was cancelled or taken over, and the one place that throttles what clients see.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from core.errors import RoomcastError
from core.store.jobs import JobDoc, JobKind
from workers.deps import WorkerDeps
from workers.errors import JobCancelled, LeaseLost

log = logging.getLogger("roomcast.workers")


def job_rooms(job: JobDoc) -> list[str]:
    if job.kind == JobKind.PROJECT_DELETION:
        # Nobody can be in the deleted project's rooms: its head follows it in their own.
        return [f"user:{job.created_by}"]
    return [f"job:{job.id}", f"project:{job.project_id}"]


def job_payload(job: JobDoc, **extra: Any) -> dict[str, Any]:
    return {
        "job_id": job.id, "project_id": job.project_id, "kind": job.kind.value,
        "stage": job.stage, "progress": job.progress, "status": job.status.value, **extra,
    }


async def broadcast(deps: WorkerDeps, job: JobDoc, event: str, **extra: Any) -> None:
    """Emit a progress event into the job's and the project's rooms.

    The next event supersedes it, so one that cannot be published (Redis unreachable) is
    logged and dropped; a job's final event goes through workers/announce.py instead.
    """
    payload = job_payload(job, **extra)
    for room in job_rooms(job):
        try:
            await deps.emitter.emit(room, event, payload)
        except RoomcastError as exc:
            log.warning("dropped %s of job %s for %s: %s", event, job.id, room, exc)


class JobProgressReporter:
    def __init__(self, deps: WorkerDeps, job: JobDoc) -> None:
        self._deps = deps
        self.job = job
        self._min_interval = 1.0 / deps.settings.job_progress_per_second
        self._last_emit = 0.0
        self._last_beat = time.monotonic()

    async def step(self, stage: str, progress: float) -> None:
        """Record a step; raise JobCancelled or LeaseLost when the job must stop here."""
        delay = self._deps.settings.job_step_delay_ms
        if delay:
            await asyncio.sleep(delay / 1000)
        value = max(0, min(100, int(progress)))
        stage_changed = stage != self.job.stage
        now = time.monotonic()
        due = now - self._last_emit >= self._min_interval
        if not (stage_changed or due or now - self._last_beat >= self._beat_interval):
            return
        await self._beat(stage=stage, progress=value)
        if stage_changed:
            self._deps.metrics.job_stage(self.job, stage)
        if stage_changed or due:
            self._last_emit = now
            await broadcast(self._deps, self.job, "job.progress")

    async def keep_alive(self) -> None:
        """Renew the lease between steps too: one long step (a big fit) must not lose it."""
        while True:
            await asyncio.sleep(self._beat_interval)
            try:
                job = await self._deps.stores.jobs.heartbeat(
                    self.job.id, self._deps.worker_id, self._deps.lease_ms)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("lease renewal for job %s failed", self.job.id, exc_info=True)
                continue
            if job is None:
                return  # the next step notices and stops

    @contextlib.asynccontextmanager
    async def watching(self, halt: Callable[[], None], every: float) -> AsyncIterator[None]:
        """While the block runs (a long step in a job thread), look for a cancel or a lost
        lease every `every` seconds and call `halt` when one is seen; `halt` is called too
        when the block ends by an exception (the worker stopping), so the thread stops with
        it."""
        watcher = asyncio.create_task(self._watch(halt, every))
        try:
            yield
        except BaseException:
            halt()
            raise
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _watch(self, halt: Callable[[], None], every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                job = await self._deps.stores.jobs.get(self.job.id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("checking job %s for a cancel failed", self.job.id, exc_info=True)
                continue
            if job is None or job.cancel_requested or job.lease_owner != self._deps.worker_id:
                halt()
                return

    @property
    def _beat_interval(self) -> float:
        return self._deps.settings.job_lease_seconds / 3

    async def _beat(self, **fields: Any) -> None:
        job = await self._deps.stores.jobs.heartbeat(
            self.job.id, self._deps.worker_id, self._deps.lease_ms, **fields
        )
        self._last_beat = time.monotonic()
        if job is None:
            raise LeaseLost("another worker holds this job now")
        self.job = job
        if job.cancel_requested:
            raise JobCancelled()
