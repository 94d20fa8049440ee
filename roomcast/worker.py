"""`roomcast worker`: Taskiq workers for ingestion and analyses; and the job runtime that
`roomcast serve` embeds (a queue client with Redis, in-process workers without it)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import sys
from dataclasses import dataclass, field, replace
from datetime import timedelta

from redis.exceptions import RedisError
from taskiq import AsyncBroker, TaskiqMessage
from taskiq.api import run_receiver_task

from core.objects import ObjectStorage
from core.settings import Settings
from core.store.stores import Stores
from realtime.emitter import Emitter
from workers.broker import build_broker, job_of, register_job_task, stop_in_process
from workers.deps import WorkerDeps
from workers.mail.sender import build_mailer
from workers.queue import TaskiqJobQueue
from workers.runner import free_to_take, run_job
from workers.schedule.deps import PeopleDeps
from workers.schedule.dispatch import TaskiqDispatch
from workers.schedule.runtime import SchedulerRuntime, build_schedule_source, close_source
from workers.schedule.tasks import register_people_tasks
from workers.stream_broker import ReclaimingStreamBroker
from workers.sweeper import sweep_forever
from workers.threads import JobThreads

log = logging.getLogger("roomcast.workers")


@dataclass
class JobRuntime:
    broker: AsyncBroker
    queue: TaskiqJobQueue
    in_process: bool
    # What jobs run with in this process; None where this process only queues them.
    deps: WorkerDeps | None = None
    # Mail, reminders, digests: the tasks' needs and the scheduler, where this process runs
    # them (as it runs jobs); `dispatch` queues and schedules them from anywhere.
    dispatch: TaskiqDispatch | None = None
    people: PeopleDeps | None = None
    scheduler: SchedulerRuntime | None = field(default=None)

    async def start(self) -> None:
        try:
            await self.broker.startup()
        except (RedisError, OSError) as exc:
            # Serving goes on without the queue; enqueueing answers 503 until Redis is back.
            log.warning("the job broker could not start: %r", exc)
        if self.scheduler is not None:
            await self.scheduler.start()

    async def stop(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.stop()
        elif self.dispatch is not None:
            await close_source(self.dispatch.source)
        if self.in_process:
            await stop_in_process(self.broker)
        else:
            await self.broker.shutdown()
        if self.deps is not None and self.deps.threads is not None:
            self.deps.threads.close()


def build_job_runtime(
    settings: Settings, *, stores: Stores, objects: ObjectStorage, emitter: Emitter,
    runs_jobs: bool | None = None,
) -> JobRuntime:
    """The broker and queue; jobs run in this process when it is a worker or has no Redis."""
    # Separate workers need both the broker and a store they share with this process; with
    # the in-process document store, jobs can only run here.
    in_process = not (settings.redis_url and settings.mongo_uri)
    broker = build_broker(None if in_process else settings.redis_url,
                          reclaim_idle_ms=settings.job_reclaim_idle_ms)
    deps = (WorkerDeps(settings, stores, objects, emitter,
                       threads=JobThreads(settings.job_threads))
            if (runs_jobs or in_process) else None)

    async def run(job_id: str) -> None:
        if runtime.deps is None:
            raise RuntimeError("this process queues jobs; `roomcast worker` runs them")
        await run_job(runtime.deps, job_id)

    task = register_job_task(broker, run)
    runtime = JobRuntime(broker, TaskiqJobQueue(task), in_process, deps)
    _add_people(runtime, settings, stores, emitter, runs_here=bool(runs_jobs or in_process))
    if deps is not None:
        # A job's end is mailed (to a creator who asked) through the queue all mail takes.
        runtime.deps = deps = replace(deps, dispatch=runtime.dispatch)
        if isinstance(broker, ReclaimingStreamBroker):
            # A killed worker's job is taken once its lease lapses, not after the stream's
            # idle time (JOB_RECLAIM_IDLE_MS, twice a lease by default).
            broker.lapsed = functools.partial(_lapsed, deps)
            broker.lapsed_idle_ms = deps.lease_ms
    return runtime


async def _lapsed(deps: WorkerDeps, message: TaskiqMessage) -> bool:
    job_id = job_of(message)
    return job_id is not None and await free_to_take(deps, job_id)


def _add_people(runtime: JobRuntime, settings: Settings, stores: Stores, emitter: Emitter, *,
                runs_here: bool) -> None:
    """Mail, reminders and digests travel on the jobs' broker; the scheduler runs where the
    jobs run (a worker, or `roomcast serve` on the embedded default)."""
    source = build_schedule_source(settings, stores)
    runtime.dispatch = TaskiqDispatch(runtime.broker, source)
    if runs_here:
        runtime.people = PeopleDeps(settings, stores, emitter, build_mailer(settings),
                                    runtime.dispatch)
        runtime.scheduler = SchedulerRuntime(
            runtime.broker, source, timedelta(seconds=settings.scheduler_refresh_seconds))

    def people() -> PeopleDeps:
        if runtime.people is None:
            raise RuntimeError("this process queues mail and reminders; `roomcast worker` "
                               "sends them")
        return runtime.people

    register_people_tasks(runtime.broker, settings, people)


def run_worker(settings: Settings, *, concurrency: int | None = None) -> int:
    if not settings.redis_url:
        print("roomcast: `roomcast worker` needs REDIS_URL (without it, `roomcast serve` "
              "runs jobs in-process)", file=sys.stderr)
        return 2
    if not settings.mongo_uri:
        # Each process would have its own in-process store: the jobs would be invisible here.
        print("roomcast: `roomcast worker` needs MONGO_URI, the store it shares with "
              "`roomcast serve`", file=sys.stderr)
        return 2
    # A worker process is there to fit models: its allocator keeps freed memory for the next
    # fit. `roomcast serve` (which runs jobs in-process on the embedded default) is left on the
    # C library's defaults, so a serving process never holds memory an ML job freed.
    from workers.ml.allocator import keep_freed_memory

    keep_freed_memory()
    asyncio.run(_work(settings, concurrency or settings.worker_concurrency))
    return 0


async def _work(settings: Settings, concurrency: int) -> None:
    from core.redispool import open_redis
    from core.store.database import close_mongo, open_mongo
    from realtime.emitter import RedisEmitter
    from roomcast.factory import build_object_storage

    assert settings.redis_url is not None
    mongo_client, db = open_mongo(settings)
    stores = Stores.over(db)
    redis = open_redis(settings)
    emitter = RedisEmitter(redis, stores, settings)
    runtime = build_job_runtime(settings, stores=stores, objects=build_object_storage(settings),
                                emitter=emitter, runs_jobs=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stores.ensure_indexes()
        await runtime.start()
        receiver = asyncio.create_task(run_receiver_task(
            runtime.broker, max_async_tasks=concurrency, max_prefetch=0))
        assert runtime.deps is not None
        sweeper = asyncio.create_task(sweep_forever(runtime.deps, runtime.queue.enqueue))
        log.info("worker ready", extra={"concurrency": concurrency})
        await stop.wait()
        # Unfinished jobs stay pending in the stream: another worker reclaims them.
        for task in (sweeper, receiver):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        await runtime.stop()
        await emitter.close()
        await redis.aclose()
        await close_mongo(mongo_client)
