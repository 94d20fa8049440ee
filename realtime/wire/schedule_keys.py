"""Where taskiq-redis 1.2.4's `ListRedisScheduleSource` keeps a timed schedule, as Roomcast's
index of its time keys (workers/schedule/redis_source.py) reads it.

The source files a schedule with a time under a list key of its minute (`_get_time_key`,
`{prefix}:time:%Y-%m-%dT%H:%M` in UTC) and its data under `_get_data_key`; with
`skip_past_schedules=False` every `get_schedules` finds the lists of past minutes not yet sent
by a SCAN of the whole Redis keyspace (`_get_previous_time_schedules`), which costs Redis and
the scheduler's process work in proportion to every key Redis holds (presence, room streams,
sessions), every SCHEDULER_REFRESH_SECONDS (and, as `_parse_time_key` reads a key, finds
nothing when the prefix holds a colon). Roomcast's source keeps those minutes' keys in a sorted
set of its own instead, and needs the source's private names for them: the functions here are
the only place that asks for them.
Re-check on upgrade: tests/canary/test_taskiq_redis.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

from taskiq_redis import ListRedisScheduleSource

MINUTE = "%Y-%m-%dT%H:%M"  # how `_get_time_key` writes the minute, at the key's end
_SAMPLE = datetime(2000, 1, 1, tzinfo=UTC)


def time_key(source: ListRedisScheduleSource, when: datetime) -> str:
    """The list key a schedule due at `when` is filed under."""
    key: str = source._get_time_key(when)
    return key


def time_key_head(source: ListRedisScheduleSource) -> str:
    """What every time key of this source starts with (`{prefix}:time:`)."""
    sample = time_key(source, _SAMPLE)
    return sample[:-len(_SAMPLE.strftime(MINUTE))]


def minute_of(source: ListRedisScheduleSource, key: str) -> datetime | None:
    """The minute a time key stands for (UTC); None for a key that is not one. Upstream's own
    `_parse_time_key` takes the part after the key's second colon, so it reads none of a
    prefix that holds a colon, as Roomcast's (`roomcast:schedule`) does."""
    head = time_key_head(source)
    if not key.startswith(head):
        return None
    try:
        return datetime.strptime(key[len(head):], MINUTE).replace(tzinfo=UTC)
    except ValueError:
        return None


def data_key(source: ListRedisScheduleSource, schedule_id: str) -> str:
    """The key of a schedule's data."""
    key: str = source._get_data_key(schedule_id)
    return key
