"""What a task needs, built once per process by the composition root and passed in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.errors import ServiceUnavailable
from core.ids import new_id
from core.mail.post import PostOffice
from core.objects import ObjectStorage
from core.schedule import Dispatch
from core.settings import Settings
from core.store.stores import Stores
from realtime.emitter import Emitter
from workers.metrics import WorkerMetrics
from workers.threads import JobThreads


@dataclass(frozen=True)
class WorkerDeps:
    settings: Settings
    stores: Stores
    objects: ObjectStorage
    emitter: Emitter
    # Queues the mail a job's end sends (the creator asked for mail); the composition root
    # sets it. Without it, mail is stored and the scheduler's minute sweep sends it.
    dispatch: Dispatch | None = None
    # Names this process in job leases, so a job knows which worker holds it.
    worker_id: str = field(default_factory=new_id)
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics)
    # The threads job work runs on (workers/threads.py); None: the default executor.
    threads: JobThreads | None = None

    @property
    def lease_ms(self) -> int:
        return int(self.settings.job_lease_seconds * 1000)

    @property
    def post(self) -> PostOffice:
        return PostOffice(self.settings, self.stores, self.dispatch or Unqueued())


class Unqueued:
    """A Dispatch with no queue behind it: PostOffice keeps the mail stored for the sweep."""

    async def now(self, task: str, **kwargs: Any) -> None:
        raise ServiceUnavailable("no task queue in this process")

    async def at(self, schedule_id: str, when: datetime, task: str, **kwargs: Any) -> None:
        raise ServiceUnavailable("no task queue in this process")

    async def cancel(self, schedule_id: str) -> None:
        raise ServiceUnavailable("no task queue in this process")
