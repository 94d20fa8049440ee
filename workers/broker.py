"""The Taskiq broker: Redis streams with acknowledged delivery, or in-process.

With REDIS_URL, jobs travel on a Redis stream read by a consumer group: a message stays
pending until the worker that runs it acknowledges it at the end, so a worker killed mid-job
does not lose it. A running job's message is kept fresh; one idle longer than
JOB_RECLAIM_IDLE_MS (its worker died) is claimed by another worker (workers/stream_broker.py),
sooner when its job's lease has lapsed.
The job's lease (workers/runner.py) keeps a redelivered message from running a job that a live
worker still holds. Without REDIS_URL, tasks run inside `roomcast serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask, InMemoryBroker, TaskiqMessage
from taskiq_redis import RedisAsyncResultBackend

from workers.stream_broker import ReclaimingStreamBroker

QUEUE = "roomcast:jobs"
GROUP = "roomcast-workers"
TASK_NAME = "roomcast.run_job"
RESULT_TTL_SECONDS = 24 * 3600

JobTask = AsyncTaskiqDecoratedTask[[str], Any]


def build_broker(
    redis_url: str | None, *, reclaim_idle_ms: int, block_ms: int = 1000
) -> AsyncBroker:
    if redis_url is None:
        return InMemoryBroker()
    broker = ReclaimingStreamBroker(
        redis_url, queue_name=QUEUE, consumer_group_name=GROUP, consumer_id="0",
        idle_timeout=reclaim_idle_ms, xread_block=block_ms, xread_count=1,
    )
    return broker.with_result_backend(
        RedisAsyncResultBackend(redis_url, result_ex_time=RESULT_TTL_SECONDS)
    )


def job_of(message: TaskiqMessage) -> str | None:
    """The job a message runs, None for the other tasks (mail, reminders)."""
    if message.task_name != TASK_NAME or not message.args:
        return None
    return str(message.args[0])


def register_job_task(
    broker: AsyncBroker, run: Callable[[str], Awaitable[None]]
) -> JobTask:
    """The one task: run job `job_id`. Its kind is on the job document."""

    async def run_job(job_id: str) -> None:
        await run(job_id)

    task: JobTask = broker.register_task(
        run_job, task_name=TASK_NAME
    )
    return task


async def stop_in_process(broker: AsyncBroker) -> None:
    """Cancel jobs still running in-process (the embedded default) and shut down."""
    running = list(getattr(broker, "_running_tasks", ()))
    for task in running:
        task.cancel()
    for task in running:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    await broker.shutdown()
