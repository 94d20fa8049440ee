"""The job queue the REST side sees (core.jobqueue.JobQueue), backed by the Taskiq broker."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from core.errors import ServiceUnavailable
from workers.broker import JobTask

log = logging.getLogger("roomcast.workers")


class TaskiqJobQueue:
    def __init__(self, task: JobTask) -> None:
        self._task = task

    async def enqueue(self, kind: str, job_id: str) -> None:
        try:
            await self._task.kiq(job_id)
        except (RedisError, OSError) as exc:
            log.warning("could not queue %s job %s: %r", kind, job_id, exc)
            raise ServiceUnavailable("the job queue is unavailable") from exc
