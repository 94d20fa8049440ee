"""taskiq-redis internals that realtime/wire/schedule_keys.py names for the index of timed
schedules (workers/schedule/redis_source.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.metadata import version

import pytest
from taskiq_redis import ListRedisScheduleSource

from realtime.wire.schedule_keys import data_key, minute_of, time_key, time_key_head
from tests.canary.upstream import assert_source, recheck

VERIFIED = "1.2.4"
OURS = "realtime/wire/schedule_keys.py"

SOURCES = {  # what the index stands on, with its source hash as verified
    # the key names a schedule is filed and read under (its `_parse_time_key` is not used: it
    # reads no key of a prefix with a colon)
    "_get_time_key": "78f293efec93cd78",
    "_get_data_key": "ad3d342791e5aa1f",
    # files a timed schedule under its minute's list; reads crons, intervals and this minute's
    # list, and past minutes' only without skip_past_schedules (which the index replaces)
    "add_schedule": "36fe11ef95507c32",
    "get_schedules": "9c61bf6e0f965bfa",
    # removes a sent or deleted schedule from its minute's list (the index drops the minute
    # once it is empty)
    "delete_schedule": "ca9a7ed6de4707ec",
    "post_send": "a08289be80c54db1",
}


def test_the_verified_release_is_installed() -> None:
    assert version("taskiq-redis") == VERIFIED, recheck("its release", OURS, "taskiq-redis",
                                                        VERIFIED)


@pytest.mark.parametrize(("name", "expected"), SOURCES.items())
def test_what_the_index_stands_on_is_unchanged(name: str, expected: str) -> None:
    assert_source(getattr(ListRedisScheduleSource, name), expected,
                  what=f"ListRedisScheduleSource.{name}",
                  ours=f"{OURS} and workers/schedule/redis_source.py", package="taskiq-redis",
                  verified=VERIFIED)


def test_the_key_layout() -> None:
    source = ListRedisScheduleSource("redis://127.0.0.1:1/0", prefix="roomcast:schedule")
    when = datetime(2026, 12, 7, 15, 4, 59, tzinfo=UTC)
    key = time_key(source, when)
    assert key == "roomcast:schedule:time:2026-12-07T15:04", recheck(
        "the time key's layout", OURS, "taskiq-redis", VERIFIED)
    assert time_key_head(source) == "roomcast:schedule:time:"
    assert minute_of(source, key) == when.replace(second=0)
    assert minute_of(source, "roomcast:schedule:data:x") is None
    assert minute_of(source, "roomcast:schedule:time:soon") is None
    assert data_key(source, "abc") == "roomcast:schedule:data:abc"
