"""Taskiq's scheduler, run inside a Roomcast process: `roomcast worker` (every worker runs
one: each reminder is claimed once in the store, so several schedulers send it once), or
`roomcast serve` on the embedded default.

The dynamic schedules live in taskiq-redis's ListRedisScheduleSource when REDIS_URL is set,
else in the document store (StoreScheduleSource); the cron ones on the tasks' labels. The
loop is Taskiq's own (SchedulerLoop, what `taskiq scheduler` runs), reading the sources every
SCHEDULER_REFRESH_SECONDS and sending each schedule at its second."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from taskiq import AsyncBroker, ScheduleSource, TaskiqScheduler
from taskiq.cli.scheduler.run import SchedulerLoop
from taskiq.schedule_sources import LabelScheduleSource
from taskiq.serializers import JSONSerializer

from core.settings import Settings
from core.store.stores import Stores
from workers.schedule.redis_source import QuietRedisScheduleSource, ScheduleKeys
from workers.schedule.store_source import StoreScheduleSource

log = logging.getLogger("roomcast.reminders")
SCHEDULE_PREFIX = "roomcast:schedule"


def build_schedule_source(settings: Settings, stores: Stores,
                          keys: ScheduleKeys) -> ScheduleSource:
    refresh = timedelta(seconds=settings.scheduler_refresh_seconds)
    if settings.redis_url:
        # JSON, not taskiq-redis' default pickle: what is read back from Redis is only data.
        return QuietRedisScheduleSource(settings.redis_url, prefix=SCHEDULE_PREFIX,
                                        serializer=JSONSerializer(), keys=keys)
    return StoreScheduleSource(stores.schedules, horizon=refresh + timedelta(seconds=1))


@dataclass
class SchedulerRuntime:
    broker: AsyncBroker
    source: ScheduleSource
    refresh: timedelta
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    async def start(self) -> None:
        labels = LabelScheduleSource(self.broker)
        scheduler = TaskiqScheduler(self.broker, sources=[labels, self.source])
        for source in scheduler.sources:
            await source.startup()
        self._task = asyncio.create_task(self._run(scheduler), name="roomcast-scheduler")
        log.info("scheduler started", extra={"refresh_seconds": self.refresh.total_seconds()})

    async def _run(self, scheduler: TaskiqScheduler) -> None:
        await SchedulerLoop(scheduler).run(update_interval=self.refresh,
                                           loop_interval=timedelta(seconds=1),
                                           send_timeout=10.0)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await close_source(self.source)


async def close_source(source: ScheduleSource) -> None:
    await source.shutdown()
    pool = getattr(source, "_connection_pool", None)
    if pool is not None:  # taskiq-redis' source keeps a pool and does not close it
        await pool.disconnect()
