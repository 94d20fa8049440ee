"""One pipeline for many concurrent Redis writes.

Concurrent publishes share one connection and go out as one pipeline per round trip, instead
of each taking a connection of its own (which is how a write burst turns into thousands of
connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from core.errors import ServiceUnavailable
from realtime.redislink import refusal

log = logging.getLogger("roomcast.realtime")

Command = Callable[[Pipeline], Any]
MAX_BATCH = 512
CLOSE_WAIT = 5.0  # seconds close() waits for what is queued to be written


class RedisBatcher:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._pending: list[tuple[Command, asyncio.Future[Any]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run(self, command: Command) -> Any:
        """Queue one command for the next pipeline and wait for its own result."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="roomcast-redis-batcher")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((command, future))
        self._wakeup.set()
        return await future

    async def close(self) -> None:
        """Write what is queued, then stop: shutting down must not fail a publish."""
        if self._task is not None and not self._task.done():
            # Pipelines go out in order, so once this no-op is answered all before it are.
            with contextlib.suppress(ServiceUnavailable, TimeoutError):
                await asyncio.wait_for(self.run(lambda pipe: pipe.ping()), CLOSE_WAIT)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, future in self._pending:
            if not future.done():
                future.set_exception(ServiceUnavailable("shutting down"))
        self._pending.clear()

    async def _loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                await self._execute(batch)

    async def _execute(self, batch: list[tuple[Command, asyncio.Future[Any]]]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for command, _ in batch:
                    command(pipe)
                results = await pipe.execute(raise_on_error=False)
        except asyncio.CancelledError:
            raise
        except (RedisError, OSError) as exc:
            log.warning("redis pipeline failed: %r", exc)
            for _, future in batch:
                if not future.done():
                    future.set_exception(ServiceUnavailable("Redis cannot be reached"))
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                log.warning("redis refused a command: %r", result)
                future.set_exception(refusal(result))
            else:
                future.set_result(result)
