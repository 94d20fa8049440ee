"""A Taskiq schedule source kept in the document store, for the embedded default (no Redis):
schedules last as long as the store does (across restarts once the store is durable).

Each read returns the time schedules due within the scheduler's next refresh, so Taskiq's
loop holds them in memory and sends each at its second."""

from __future__ import annotations

from datetime import timedelta

from taskiq import ScheduledTask, ScheduleSource

from core.ids import utcnow
from core.store.schedules import ScheduleRepository

READ_LIMIT = 1000


class StoreScheduleSource(ScheduleSource):
    def __init__(self, schedules: ScheduleRepository, horizon: timedelta) -> None:
        super().__init__()
        self._schedules = schedules
        self._horizon = horizon

    async def get_schedules(self) -> list[ScheduledTask]:
        docs = await self._schedules.due_by(utcnow() + self._horizon, READ_LIMIT)
        return [ScheduledTask.model_validate(doc) for doc in docs]

    async def add_schedule(self, schedule: ScheduledTask) -> None:
        await self._schedules.put(schedule.schedule_id, schedule.time,
                                  schedule.model_dump(mode="json"))

    async def delete_schedule(self, schedule_id: str) -> None:
        await self._schedules.delete(schedule_id)

    async def post_send(self, task: ScheduledTask) -> None:
        if task.time is not None:  # a one-off: done once sent
            await self._schedules.delete(task.schedule_id)
