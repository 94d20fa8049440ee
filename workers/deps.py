"""What a task needs, built once per process by the composition root and passed in."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.ids import new_id
from core.objects import ObjectStorage
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
    # Names this process in job leases, so a job knows which worker holds it.
    worker_id: str = field(default_factory=new_id)
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics)
    # The threads job work runs on (workers/threads.py); None: the default executor.
    threads: JobThreads | None = None

    @property
    def lease_ms(self) -> int:
        return int(self.settings.job_lease_seconds * 1000)
