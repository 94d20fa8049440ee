"""taskiq-redis's RedisStreamBroker, fitted for jobs that outlive the reclaim timeout.

Three changes to the stock broker:

- Idle pending messages are reclaimed on every poll (the stock `listen` does so only after a
  read returned new ones, so on a quiet queue a killed worker's job would wait for traffic).
- While a task runs, its message's idle time is kept fresh (XCLAIM ... JUSTID to this
  consumer every third of the reclaim timeout), so a long job is never reclaimed by another
  worker while its own worker is alive. A worker killed mid-job stops refreshing: its message
  goes idle and is reclaimed as before.
- A message pending at another consumer whose job has no live holder (its lease lapsed: the
  worker was killed) is claimed on the next poll, without waiting for the stream's idle time
  (`JOB_RECLAIM_IDLE_MS`, 60 s) when the lease (`JOB_LEASE_SECONDS`, 30 s) says sooner.
- After each acknowledgement the stream is trimmed (XTRIM MINID) below the oldest entry still
  needed: the oldest pending one, or the group's last delivered one. taskiq-redis's `maxlen`
  trims by count at XADD and would drop messages nobody has acknowledged yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from taskiq import AckableMessage, TaskiqMessage, TaskiqMiddleware
from taskiq_redis import RedisStreamBroker

log = logging.getLogger("roomcast.workers")

# Keeps every entry at or after the oldest one some consumer group still needs: its oldest
# pending entry, or (nothing pending) its last delivered one; later entries are undelivered.
TRIM_SCRIPT = """
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function older(a, b)
  local ams, aseq = parse(a)
  local bms, bseq = parse(b)
  return ams < bms or (ams == bms and aseq < bseq)
end
local keep = nil
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
  local needed = info['last-delivered-id']
  if tonumber(info['pending']) > 0 then
    needed = redis.call('XPENDING', KEYS[1], info['name'])[2]
  end
  if keep == nil or older(needed, keep) then keep = needed end
end
if keep == nil then return 0 end
return redis.call('XTRIM', KEYS[1], 'MINID', keep)
"""


class ReclaimingStreamBroker(RedisStreamBroker):
    """RedisStreamBroker that reclaims on every poll, keeps running messages fresh, trims."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # task id -> (stream, message id) of every message received and not yet acknowledged.
        self._received: dict[str, tuple[Any, Any]] = {}
        # message id -> stream, of the messages whose task is executing now.
        self._running: dict[Any, Any] = {}
        self.add_middlewares(_MarkRunning(self))
        # Set where jobs run: whether a message's job is free to take (no live lease holder).
        self.lapsed: Callable[[TaskiqMessage], Awaitable[bool]] | None = None
        self.lapsed_idle_ms = self.idle_timeout

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        refreshing = asyncio.create_task(self._keep_fresh())
        try:
            async with Redis(connection_pool=self.connection_pool) as redis:
                while True:
                    async for message in self._poll(redis):
                        yield message
        finally:
            refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refreshing

    async def _poll(self, redis: Redis) -> AsyncGenerator[AckableMessage, None]:
        fetched: Any = await redis.xreadgroup(
            self.consumer_group_name, self.consumer_name, {self.queue_name: ">"},
            block=self.block, noack=False, count=self.count,
        )
        for stream, messages in fetched or []:
            for message_id, message in messages:
                yield self._ackable(stream, message_id, message)
        claimed: Any = await redis.xautoclaim(
            self.queue_name, self.consumer_group_name, self.consumer_name,
            min_idle_time=self.idle_timeout, count=self.unacknowledged_batch_size,
        )
        for message_id, message in claimed[1]:
            if message:  # entries deleted from the stream come back empty
                yield self._ackable(self.queue_name, message_id, message)
        if self.lapsed is not None and self.lapsed_idle_ms < self.idle_timeout:
            for message_id, message in await self._claim_lapsed(redis, self.lapsed):
                yield self._ackable(self.queue_name, message_id, message)

    async def _claim_lapsed(
        self, redis: Redis, lapsed: Callable[[TaskiqMessage], Awaitable[bool]]
    ) -> list[tuple[Any, Any]]:
        """Claim other consumers' messages idle past a lease whose job nobody holds."""
        entries: Any = await redis.xpending_range(
            self.queue_name, self.consumer_group_name, "-", "+",
            self.unacknowledged_batch_size, idle=self.lapsed_idle_ms)
        me = self.consumer_name.encode()
        taken: list[tuple[Any, Any]] = []
        for entry in entries:
            if entry["consumer"] == me:
                continue  # ours: running (kept fresh) or waiting for a free slot here
            found: Any = await redis.xrange(self.queue_name, entry["message_id"],
                                            entry["message_id"], count=1)
            if not found or not await self._is_lapsed(found[0][1], lapsed):
                continue
            # min_idle_time again: a consumer that touched it meanwhile keeps it.
            claimed: Any = await redis.xclaim(
                self.queue_name, self.consumer_group_name, self.consumer_name,
                min_idle_time=self.lapsed_idle_ms, message_ids=[entry["message_id"]])
            taken += [(mid, message) for mid, message in claimed if message]
        return taken

    async def _is_lapsed(self, message: Any,
                         lapsed: Callable[[TaskiqMessage], Awaitable[bool]]) -> bool:
        try:
            parsed = self.formatter.loads(message=message[b"data"])
        except Exception:
            return False  # the stream's own reclaim hands it out after its idle time
        try:
            return await lapsed(parsed)
        except Exception as exc:  # the store is down: leave the message to the idle reclaim
            log.warning("could not check a pending job's lease: %r", exc)
            return False

    def started(self, task_id: str) -> None:
        """The task of this message began executing: keep its message from going idle."""
        delivery = self._received.get(task_id)
        if delivery is not None:
            stream, message_id = delivery
            self._running[message_id] = stream

    def _ackable(self, stream: Any, message_id: Any, message: Any) -> AckableMessage:
        data = message[b"data"]
        task_id = self._task_id(data)
        if task_id is not None:
            self._received[task_id] = (stream, message_id)
        return AckableMessage(data=data, ack=self._acker(stream, message_id, task_id))

    def _task_id(self, data: bytes) -> str | None:
        try:
            return self.formatter.loads(message=data).task_id
        except Exception:
            return None  # the receiver logs and acknowledges what it cannot parse

    def _acker(
        self, stream: Any, message_id: Any, task_id: str | None
    ) -> Callable[[], Awaitable[None]]:
        async def ack() -> None:
            self._running.pop(message_id, None)
            if task_id is not None and self._received.get(task_id) == (stream, message_id):
                del self._received[task_id]
            async with Redis(connection_pool=self.connection_pool) as redis:
                await redis.xack(stream, self.consumer_group_name, message_id)
                await self._trim(redis, stream)

        return ack

    async def _trim(self, redis: Redis, stream: Any) -> None:
        try:
            await redis.eval(TRIM_SCRIPT, 1, stream)
        except RedisError as exc:
            # Only the stream's length is at stake; the next acknowledgement trims.
            log.warning("could not trim the job stream: %r", exc)

    async def _keep_fresh(self) -> None:
        interval = self.idle_timeout / 3 / 1000
        async with Redis(connection_pool=self.connection_pool) as redis:
            while True:
                await asyncio.sleep(interval)
                await self._refresh(redis)

    async def _refresh(self, redis: Redis) -> None:
        by_stream: dict[Any, list[Any]] = {}
        for message_id, stream in list(self._running.items()):
            by_stream.setdefault(stream, []).append(message_id)
        for stream, ids in by_stream.items():
            try:
                # Resets the idle time without counting a delivery; an entry acknowledged
                # meanwhile is not pending any more and is left alone.
                await redis.xclaim(stream, self.consumer_group_name, self.consumer_name,
                                   min_idle_time=0, message_ids=ids, justid=True)
            except RedisError as exc:
                log.warning("could not refresh %d running job messages: %r", len(ids), exc)


class _MarkRunning(TaskiqMiddleware):
    """Tells the broker when a received message's task starts (after a free slot is found)."""

    def __init__(self, broker: ReclaimingStreamBroker) -> None:
        super().__init__()
        self._stream_broker = broker

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        self._stream_broker.started(message.task_id)
        return message
