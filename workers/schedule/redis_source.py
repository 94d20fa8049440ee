"""taskiq-redis' ListRedisScheduleSource, with an index of its timed schedules' minutes, and
quiet while Redis is unreachable.

The upstream source finds the schedules of past minutes not yet sent (a scheduler that was
down, a reminder set for a time already gone) by a SCAN of the whole Redis keyspace on every
read, every SCHEDULER_REFRESH_SECONDS: work in proportion to every key Redis holds (presence,
room streams, sessions), in Redis and in each process running a scheduler. Here it reads them
without a SCAN: each timed schedule's minute key is also added to a sorted set
(`{prefix}:time-index`, scored by the minute), and a read takes the keys of past minutes from
it, with the schedules still in them, in one script that also drops the keys left empty (sent
and removed). A SCAN runs once per Redis, on the first read, for keys filed before the index
(`{prefix}:time-index:built` marks it done). The key layout is taskiq-redis' own, asked
through `ScheduleKeys`: the composition root gives realtime/wire/schedule_keys.py, the one
place that names the source's private parts.

Taskiq's loop logs a traceback for every failed read; here a read that fails logs one warning
per outage and finds nothing. The schedules stay in Redis (or, if Redis lost them, in the
store's reminder records, which the minute sweep reads)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError
from taskiq import ScheduledTask
from taskiq.abc.serializer import TaskiqSerializer
from taskiq_redis import ListRedisScheduleSource

log = logging.getLogger("roomcast.reminders")

PAST_KEYS = 500  # past minutes read at most per read: a long backlog is taken in steps
SCAN_COUNT = 1000  # keys per SCAN call of the one-time backfill
DATA_BATCH = 50  # data keys per MGET

# KEYS[1]: the index. ARGV[1]: the latest minute to take (a score), ARGV[2]: at most so many
# keys, ARGV[3]: what a schedule's data key starts with. Returns the ids in the past minutes'
# lists. An id whose data is gone (a removal cut short between its two steps) leaves its list,
# and a list found empty leaves the index (in the same script, so a schedule filed meanwhile
# re-adds its key after this, never before): the minutes read are those still owed something.
_PAST = """
local out = {}
local keys = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, key in ipairs(keys) do
  local kept = 0
  for _, id in ipairs(redis.call('LRANGE', key, 0, -1)) do
    if redis.call('EXISTS', ARGV[3] .. id) == 1 then
      out[#out + 1] = id
      kept = kept + 1
    else
      redis.call('LREM', key, 0, id)
    end
  end
  if kept == 0 then
    redis.call('ZREM', KEYS[1], key)
  end
end
return out
"""


class ScheduleKeys(Protocol):
    """Where the upstream source files a timed schedule and its data."""

    def time_key(self, source: ListRedisScheduleSource, when: datetime) -> str: ...

    def time_key_head(self, source: ListRedisScheduleSource) -> str: ...

    def minute_of(self, source: ListRedisScheduleSource, key: str) -> datetime | None: ...

    def data_key(self, source: ListRedisScheduleSource, schedule_id: str) -> str: ...


class QuietRedisScheduleSource(ListRedisScheduleSource):
    _down = False

    def __init__(self, url: str, *, prefix: str, serializer: TaskiqSerializer,
                 keys: ScheduleKeys, **kwargs: Any) -> None:
        # The upstream read of past minutes (a SCAN) is off: `_past` reads them from the index.
        super().__init__(url, prefix=prefix, serializer=serializer, skip_past_schedules=True,
                         **kwargs)
        self._loads = serializer
        self._keys = keys
        self._index = f"{prefix}:time-index"
        self._built = f"{self._index}:built"
        self._time_pattern = keys.time_key_head(self) + "*"
        self._redis = Redis.from_url(url)
        self._past_script = self._redis.register_script(_PAST)
        self._indexed = False

    async def add_schedule(self, schedule: ScheduledTask) -> None:
        await super().add_schedule(schedule)
        if schedule.time is not None:
            when = schedule.time if schedule.time.tzinfo else schedule.time.replace(tzinfo=UTC)
            minute = when.astimezone(UTC).replace(second=0, microsecond=0)
            key = self._keys.time_key(self, when)
            await self._redis.zadd(self._index, {key: minute.timestamp()})

    async def get_schedules(self) -> list[ScheduledTask]:
        try:
            # Crons, intervals and this minute's, as upstream reads them; then past minutes'.
            found: list[ScheduledTask] = await super().get_schedules()
            found.extend(await self._past())
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

    async def shutdown(self) -> None:
        await super().shutdown()
        await self._redis.aclose()

    async def _past(self) -> list[ScheduledTask]:
        """The schedules filed under the previous minute or earlier, not sent yet."""
        if not self._indexed:
            await self._backfill()
            self._indexed = True
        latest = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
        ids = await self._past_script(keys=[self._index], args=[
            latest.timestamp(), PAST_KEYS, self._keys.data_key(self, "")])
        found: list[ScheduledTask] = []
        for start in range(0, len(ids), DATA_BATCH):
            batch = [self._keys.data_key(self, i.decode()) for i in ids[start:start + DATA_BATCH]]
            for raw in await self._redis.mget(batch):
                if raw:  # bytes: this client does not decode replies
                    data = raw if isinstance(raw, bytes) else raw.encode()
                    found.append(ScheduledTask.model_validate(self._loads.loadb(data)))
        return found

    async def _backfill(self) -> None:
        """Index the time keys filed before the index was kept (once per Redis)."""
        if await self._redis.exists(self._built):
            return
        async for raw in self._redis.scan_iter(match=self._time_pattern, count=SCAN_COUNT):
            key = raw.decode()
            minute = self._keys.minute_of(self, key)
            if minute is not None:
                await self._redis.zadd(self._index, {key: minute.timestamp()})
        await self._redis.set(self._built, b"1")
