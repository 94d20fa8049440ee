"""taskiq-redis' ListRedisScheduleSource, quiet while Redis is unreachable.

Taskiq's loop logs a traceback for every failed read (every SCHEDULER_REFRESH_SECONDS); here a
read that fails logs one warning per outage and finds nothing. The schedules stay in Redis
(or, if Redis lost them, in the store's reminder records, which the minute sweep reads)."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from taskiq import ScheduledTask
from taskiq_redis import ListRedisScheduleSource

log = logging.getLogger("roomcast.reminders")


class QuietRedisScheduleSource(ListRedisScheduleSource):
    _down = False

    async def get_schedules(self) -> list[ScheduledTask]:
        try:
            found: list[ScheduledTask] = await super().get_schedules()
        except (RedisError, OSError) as exc:
            if not self._down:
                log.warning("the schedules cannot be read from Redis (%r); retrying", exc)
                self._down = True
            return []
        if self._down:
            log.info("the schedules are read from Redis again")
            self._down = False
        return found

    async def post_send(self, task: ScheduledTask) -> None:
        try:
            await super().post_send(task)
        except (RedisError, OSError) as exc:
            # Sent already; a second send of it finds its reminder claimed and does nothing.
            log.warning("sent schedule %s could not be removed (%r)", task.schedule_id, exc)
