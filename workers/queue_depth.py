"""Sampling the job queue's depth into `WorkerMetrics`, every few seconds, off the scrape.

Two views: the store's queued jobs (every deployment, the embedded default included) and, with
Redis, the job stream itself (its length, what was delivered and not acknowledged, what no
worker has read, and the age of the oldest unacknowledged entry, from its id's timestamp).
A scrape only reads the gauges: it never waits on Redis or the store.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import RedisError

from core.ids import epoch_ms
from core.store.jobs import JobRepository
from workers.metrics import WorkerMetrics

log = logging.getLogger("roomcast.workers")


class QueueDepthSampler:
    def __init__(self, metrics: WorkerMetrics, jobs: JobRepository, *, interval: float,
                 pool: ConnectionPool | None = None, queue: str = "", group: str = "") -> None:
        self._metrics = metrics
        self._jobs = jobs
        self._interval = interval
        self._pool = pool
        self._queue, self._group = queue, group

    async def run(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(self._interval)

    async def sample(self) -> None:
        await self._sample_store()
        if self._pool is not None:
            await self._sample_stream(self._pool)

    async def _sample_store(self) -> None:
        try:
            count, oldest_ms = await self._jobs.queued_summary()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the store down, or anything else: try again next time
            self._failed("store", exc)
            return
        self._metrics.jobs_queued.set(count)
        age = 0.0 if oldest_ms is None else max(0.0, (epoch_ms() - oldest_ms) / 1000)
        self._metrics.jobs_oldest_queued_age.set(age)

    async def _sample_stream(self, pool: ConnectionPool) -> None:
        try:
            async with Redis(connection_pool=pool) as redis:
                length = await redis.xlen(self._queue)
                groups: list[dict[str, Any]] = (
                    await redis.xinfo_groups(self._queue) if length else [])
                group = next((g for g in groups if _text(g.get("name")) == self._group), None)
                summary: Any = (await redis.xpending(self._queue, self._group)
                                if group is not None else None)
        except (RedisError, OSError) as exc:
            self._failed("redis", exc)
            return
        pending = int(summary["pending"]) if summary else 0
        lag = group.get("lag") if group is not None else length
        metrics = self._metrics
        metrics.queue_length.labels(self._queue).set(length)
        metrics.queue_pending.labels(self._queue).set(pending)
        metrics.queue_undelivered.labels(self._queue).set(int(lag or 0))
        metrics.queue_oldest_pending_age.labels(self._queue).set(
            _age_seconds(summary["min"]) if pending else 0.0)

    def _failed(self, source: str, exc: BaseException) -> None:
        self._metrics.queue_sample_errors.labels(source).inc()
        log.debug("could not sample the queue's depth from %s: %r", source, exc)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _age_seconds(entry_id: Any) -> float:
    """A stream entry id starts with the epoch milliseconds it was added at."""
    added_ms = int(_text(entry_id).split("-", 1)[0])
    return max(0.0, (epoch_ms() - added_ms) / 1000)
