"""`roomcast worker`: Taskiq workers for ingestion and analyses; and the job runtime that
`roomcast serve` embeds (a queue client with Redis, in-process workers without it)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from redis.exceptions import RedisError
from taskiq import AsyncBroker, TaskiqMessage
from taskiq.api import run_receiver_task

from core.objects import ObjectStorage
from core.settings import Settings
from core.store.stores import Stores
from core.tracing import Tracing, current_ids, emit_call, object_call
from realtime.emitter import Emitter
from realtime.wire import schedule_keys
from workers.broker import (
    GROUP,
    QUEUE,
    build_broker,
    job_of,
    register_job_task,
    stop_in_process,
)
from workers.deps import WorkerDeps
from workers.mail.sender import build_mailer
from workers.metrics import CountingMailer, TaskMetricsMiddleware
from workers.queue import TaskiqJobQueue
from workers.queue_depth import QueueDepthSampler
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
    # Samples the queue's depth into the metrics, where jobs run.
    sampler: QueueDepthSampler | None = None
    _sampling: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            await self.broker.startup()
        except (RedisError, OSError) as exc:
            # Serving goes on without the queue; enqueueing answers 503 until Redis is back.
            log.warning("the job broker could not start: %r", exc)
        if self.scheduler is not None:
            await self.scheduler.start()
        if self.sampler is not None:
            self._sampling = asyncio.create_task(self.sampler.run())

    async def stop(self) -> None:
        if self._sampling is not None:
            self._sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampling
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
    runs_jobs: bool | None = None, metrics_registry: CollectorRegistry | None = None,
    tracing: Tracing | None = None,
) -> JobRuntime:
    """The broker and queue; jobs run in this process when it is a worker or has no Redis.
    Where they run, their metrics go into `metrics_registry`."""
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
        if tracing is None:
            await run_job(runtime.deps, job_id)
            return
        with tracing.tracer.start_as_current_span("job", attributes={"roomcast.job_id": job_id}):
            await run_job(runtime.deps, job_id)

    if tracing is not None:
        # A send carries the trace context in the message's labels; the execution continues it.
        from taskiq.middlewares.opentelemetry_middleware import OpenTelemetryMiddleware

        broker.add_middlewares(OpenTelemetryMiddleware(tracer_provider=tracing.provider))
    task = register_job_task(broker, run)
    runtime = JobRuntime(broker, TaskiqJobQueue(task), in_process, deps)
    if deps is not None and metrics_registry is not None:
        _add_metrics(runtime, deps, settings, metrics_registry)
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


def _add_metrics(runtime: JobRuntime, deps: WorkerDeps, settings: Settings,
                 registry: CollectorRegistry) -> None:
    deps.metrics.register(registry)
    runtime.broker.add_middlewares(TaskMetricsMiddleware(deps.metrics))
    stream = runtime.broker if isinstance(runtime.broker, ReclaimingStreamBroker) else None
    runtime.sampler = QueueDepthSampler(
        deps.metrics, deps.stores.jobs, interval=settings.metrics_sample_seconds,
        pool=None if stream is None else stream.connection_pool, queue=QUEUE, group=GROUP)


async def _lapsed(deps: WorkerDeps, message: TaskiqMessage) -> bool:
    job_id = job_of(message)
    return job_id is not None and await free_to_take(deps, job_id)


def _add_people(runtime: JobRuntime, settings: Settings, stores: Stores, emitter: Emitter, *,
                runs_here: bool) -> None:
    """Mail, reminders and digests travel on the jobs' broker; the scheduler runs where the
    jobs run (a worker, or `roomcast serve` on the embedded default)."""
    source = build_schedule_source(settings, stores, schedule_keys)
    runtime.dispatch = TaskiqDispatch(runtime.broker, source)
    if runs_here:
        mailer = build_mailer(settings)
        if runtime.deps is not None:
            mailer = CountingMailer(mailer, runtime.deps.metrics)
        runtime.people = PeopleDeps(settings, stores, emitter, mailer, runtime.dispatch)
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
    from roomcast.logs import use_trace_ids
    from roomcast.probes import DependencyProbe

    assert settings.redis_url is not None
    tracing = Tracing.from_settings(settings, "roomcast-worker")
    if tracing is not None:
        tracing.instrument_clients()  # before any client is made
        use_trace_ids(current_ids)
    mongo_client, db = open_mongo(settings)
    stores = Stores.over(db)
    redis = open_redis(settings)
    emitter = RedisEmitter(redis, stores, settings)
    objects = build_object_storage(settings)
    registry = CollectorRegistry()
    runtime = build_job_runtime(
        settings, stores=stores, emitter=emitter if tracing is None else tracing.calls(
            emitter, "emitter", emit_call),
        objects=objects if tracing is None else tracing.calls(objects, "objects", object_call),
        runs_jobs=True, metrics_registry=registry, tracing=tracing)
    probe = DependencyProbe(registry, {"mongodb": stores.ping, "redis": _pinger(redis),
                                       "objects": objects.ping},
                            interval=settings.metrics_sample_seconds)
    metrics_server = _serve_metrics(settings, registry)
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
        probing = asyncio.create_task(probe.run())
        log.info("worker ready", extra={"concurrency": concurrency})
        await stop.wait()
        # Unfinished jobs stay pending in the stream: another worker reclaims them.
        for task in (probing, sweeper, receiver):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        await runtime.stop()
        await emitter.close()
        await redis.aclose()
        await close_mongo(mongo_client)
        if tracing is not None:
            tracing.shutdown()


def _pinger(redis: Any) -> Callable[[], Awaitable[None]]:
    async def ping() -> None:
        await redis.ping()

    return ping


def _serve_metrics(settings: Settings, registry: CollectorRegistry) -> WSGIServer | None:
    """`/metrics` of this worker on WORKER_METRICS_PORT (0: none), in a thread of its own."""
    if not settings.worker_metrics_port:
        return None
    host, port = settings.worker_metrics_host, settings.worker_metrics_port
    try:
        server, _ = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        # Jobs matter more than their metrics: run without, and say so.
        log.error("could not serve metrics on %s:%d (%s): set WORKER_METRICS_PORT to a free "
                  "port, or 0 for none", host, port, exc)
        return None
    log.info("worker metrics at http://%s:%d/metrics", host, port)
    return server
