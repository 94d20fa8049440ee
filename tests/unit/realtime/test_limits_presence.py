"""The rate bucket, the wire contract's room names, and presence in one process."""

from __future__ import annotations

from unittest import mock

from realtime.contract import error, parse_room
from realtime.limits import EventBucket
from realtime.presence import MemoryPresenceStore


def test_bucket_allows_burst_then_counts_refusals() -> None:
    with mock.patch("realtime.limits.time.monotonic", return_value=100.0):
        bucket = EventBucket(rate=2.0, burst=3)
        assert [bucket.take() for _ in range(5)] == [True, True, True, False, False]
        assert bucket.refused == 2
        assert bucket.retry_after() == 0.5
    with mock.patch("realtime.limits.time.monotonic", return_value=101.0):
        assert bucket.take() and bucket.refused == 0  # two tokens came back in a second


def test_room_names() -> None:
    assert parse_room("project:abc123") == ("project", "abc123")
    assert parse_room("user:u1") == ("user", "u1")
    for bad in ("project:", "room:x", "project:a-b", "project", "project:" + "a" * 65,
                "project:caf\u00e9", "project:\u0663"):
        assert parse_room(bad) is None
    assert error("not_found", "no") == {"ok": False,
                                        "error": {"code": "not_found", "message": "no"}}


async def test_presence_counts_connections_per_user() -> None:
    store = MemoryPresenceStore()
    assert await store.add("project:p", "s1", "u1", "Ada", "online") == 1
    assert await store.add("project:p", "s2", "u1", "Ada", "busy") == 2
    assert await store.add("project:p", "s3", "u2", "Bob", "online") == 1
    snapshot = await store.snapshot("project:p")
    assert [(e.user_id, e.connections, e.status) for e in snapshot] == [
        ("u1", 2, "busy"), ("u2", 1, "online")]
    first = await store.remove("project:p", "s1")
    assert first is not None and first.remaining == 1
    last = await store.remove("project:p", "s2")
    assert last is not None and last.remaining == 0 and last.user_id == "u1"
    assert await store.remove("project:p", "s2") is None
    assert [e.user_id for e in await store.snapshot("project:p")] == ["u2"]
