"""core.schedule.Dispatch on Taskiq: a task queued on the broker now, or at a time through a
schedule source (`schedule_by_time`), under an id of ours so it can be dropped."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from taskiq import AsyncBroker, ScheduleSource
from taskiq.kicker import AsyncKicker

from core.errors import ServiceUnavailable

# The store schedule source raises the store's own errors (core.errors), which pass as they are.
UNREACHABLE = (RedisError, OSError)


class TaskiqDispatch:
    def __init__(self, broker: AsyncBroker, source: ScheduleSource) -> None:
        self.broker = broker
        self.source = source

    def _kicker(self, task: str) -> AsyncKicker[Any, Any]:
        return AsyncKicker(task, self.broker, {})

    async def now(self, task: str, **kwargs: Any) -> None:
        try:
            await self._kicker(task).kiq(**kwargs)
        except UNREACHABLE as exc:
            raise ServiceUnavailable("the task queue is unavailable") from exc

    async def at(self, schedule_id: str, when: datetime, task: str, **kwargs: Any) -> None:
        try:
            await self._kicker(task).with_schedule_id(schedule_id).schedule_by_time(
                self.source, when, **kwargs)
        except UNREACHABLE as exc:
            raise ServiceUnavailable("the schedule source is unavailable") from exc

    async def cancel(self, schedule_id: str) -> None:
        try:
            await self.source.delete_schedule(schedule_id)
        except UNREACHABLE as exc:
            raise ServiceUnavailable("the schedule source is unavailable") from exc
