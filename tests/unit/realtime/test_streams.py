"""Frames and the in-memory room stream (the embedded default's recovery)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from core.errors import ServiceUnavailable
from realtime import streams as streams_module
from realtime.batcher import RedisBatcher
from realtime.redislink import RedisAddress, RedisLink
from realtime.streams import (
    MemoryRoomStreams,
    Position,
    RedisRoomStreams,
    frame_parts,
    position_in,
    stored_frame,
    volatile_frame,
)
from tests.support.services import free_port


def decode(frame: str) -> list[object]:
    assert frame[0] == "2"
    return orjson.loads(frame[1:])  # type: ignore[no-any-return]


def test_frame_carries_room_offset_and_epoch_and_overrides_them() -> None:
    prefix, suffix = frame_parts("message", "meeting:ab",
                                 {"text": "hi", "offset": 9, "room": "x", "epoch": "e"})
    frame = stored_frame(prefix, 7, "a1b2", suffix)
    assert decode(frame) == ["message", {"room": "meeting:ab", "offset": 7, "epoch": "a1b2",
                                         "text": "hi"}]
    assert position_in(frame, "meeting:ab") == Position(7, "a1b2")
    prefix, suffix = frame_parts("ping", "user:u1", {})
    empty = stored_frame(prefix, 1, "e0", suffix)
    assert decode(empty) == ["ping", {"room": "user:u1", "offset": 1, "epoch": "e0"}]
    assert position_in(empty, "user:u1") == Position(1, "e0")
    assert decode(volatile_frame("typing", {"a": 1})) == ["typing", {"a": 1}]
    assert position_in(volatile_frame("typing", {"room": "user:u1"}), "user:u1") is None


async def test_memory_stream_offsets_and_recovery() -> None:
    streams = MemoryRoomStreams(max_len=3, max_age=3600)
    offsets = [(await streams.append("project:p", "e", {"n": n}))[0] for n in range(5)]
    assert offsets == [1, 2, 3, 4, 5]
    assert (await streams.append("project:q", "e", {}))[0] == 1
    position = await streams.position("project:p")
    assert position.offset == 5
    epoch = position.epoch

    kept = await streams.since("project:p", 2, epoch)
    assert kept.recovered and [decode(f)[1]["n"] for f in kept.frames] == [2, 3, 4]  # type: ignore[index]
    assert kept.epoch == epoch
    assert (await streams.since("project:p", 5, epoch)).recovered
    assert (await streams.since("project:p", 5, epoch)).frames == []
    gone = await streams.since("project:p", 1, epoch)
    assert not gone.recovered and gone.frames == [] and gone.offset == 5
    # A client ahead of the server (its history was reset) cannot be recovered either.
    assert not (await streams.since("project:p", 99, epoch)).recovered


async def test_memory_stream_epochs() -> None:
    """Offsets count within an epoch: another epoch, or none with `since` above 0, is never
    recovered, not even `since == latest`; a restarted process starts new epochs."""
    streams = MemoryRoomStreams(max_len=10, max_age=3600)
    for n in range(3):
        await streams.append("project:p", "e", {"n": n})
    epoch = (await streams.position("project:p")).epoch
    assert (await streams.since("project:p", 3, epoch)).recovered
    assert not (await streams.since("project:p", 3, "f" * 12)).recovered
    assert not (await streams.since("project:p", 3, None)).recovered
    assert not (await streams.since("project:p", 1, None)).recovered
    everything = await streams.since("project:p", 0, None)  # nothing seen yet: all of it
    assert everything.recovered and len(everything.frames) == 3

    restarted = MemoryRoomStreams(max_len=10, max_age=3600)
    for n in range(5):
        await restarted.append("project:p", "e", {"n": n})
    again = await restarted.since("project:p", 3, epoch)
    assert not again.recovered and again.frames == [] and again.epoch != epoch
    # An empty room has its epoch before its first event, which then counts in it.
    empty = await restarted.position("project:new")
    _, frame = await restarted.append("project:new", "e", {})
    assert position_in(frame, "project:new") == Position(1, empty.epoch)


async def test_memory_stream_age_limit() -> None:
    streams = MemoryRoomStreams(max_len=10, max_age=0)
    await streams.append("job:j", "e", {})
    await streams.append("job:j", "e", {})
    assert not (await streams.since("job:j", 0, None)).recovered


async def test_memory_stream_replays_only_what_is_younger_than_the_max_age() -> None:
    now = [1_000_000.0]
    streams = MemoryRoomStreams(max_len=10, max_age=60, clock=lambda: now[0])
    await streams.append("job:j", "e", {"n": 1})
    now[0] += 30
    await streams.append("job:j", "e", {"n": 2})
    epoch = (await streams.position("job:j")).epoch
    assert len((await streams.since("job:j", 0, epoch)).frames) == 2  # both within 60 s
    now[0] += 31  # the first is 61 s old, the second 31 s
    assert not (await streams.since("job:j", 0, epoch)).recovered
    recent = await streams.since("job:j", 1, epoch)
    assert recent.recovered and [position_in(f, "job:j") for f in recent.frames] == [
        Position(2, epoch)]


async def test_saved_rooms_come_back_whole_and_only_once(tmp_path: Path) -> None:
    now = [1_000_000.0]
    before = MemoryRoomStreams(max_len=3, max_age=60, clock=lambda: now[0])
    for n in range(5):
        await before.append("meeting:m", "message", {"n": n})
    now[0] += 30
    await before.append("job:j", "e", {})
    empty = await before.position("user:u")  # joined, nothing sent: its epoch is kept too
    path = tmp_path / "rooms.saved"
    assert before.save(path) == 3

    after = MemoryRoomStreams(max_len=3, max_age=60, clock=lambda: now[0])
    assert after.restore(path) == 3
    assert not path.exists()  # taken back once: a crash after this start brings nothing back
    assert await after.position("user:u") == empty
    position = await before.position("meeting:m")
    assert await after.position("meeting:m") == position and position.offset == 5
    kept = await after.since("meeting:m", 2, position.epoch)  # the last three were kept
    assert kept.recovered and kept.frames == (await before.since("meeting:m", 2,
                                                                  position.epoch)).frames
    assert not (await after.since("meeting:m", 1, position.epoch)).recovered
    offset, _ = await after.append("meeting:m", "message", {"n": 5})
    assert offset == 6
    now[0] += 40  # the first five events are 70 s old now, the sixth and the job's 40 s
    assert after.save(path) == 3
    later = MemoryRoomStreams(max_len=3, max_age=60, clock=lambda: now[0])
    assert later.restore(path) == 3
    assert not (await later.since("meeting:m", 4, position.epoch)).recovered  # too old
    recent = await later.since("meeting:m", 5, position.epoch)
    assert recent.recovered and [position_in(f, "meeting:m") for f in recent.frames] == [
        Position(6, position.epoch)]
    job = await later.position("job:j")
    assert (await later.since("job:j", 0, job.epoch)).recovered


async def test_an_append_after_the_save_removes_the_saved_rooms(tmp_path: Path) -> None:
    streams = MemoryRoomStreams(max_len=10, max_age=60)
    await streams.append("meeting:m", "message", {})
    path = tmp_path / "rooms.saved"
    streams.save(path)
    await streams.append("meeting:m", "message", {})  # its offset would be handed out again
    assert not path.exists()
    fresh = MemoryRoomStreams(max_len=10, max_age=60)
    assert fresh.restore(path) == 0


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[]", b'{"version": 2, "rooms": {}}', b'{"version": 1}',
    b'{"version": 1, "rooms": {"meeting:m": [1, "e"]}}',
    b'{"version": 1, "rooms": {"meeting:m": [-1, "e", []]}}',
    b'{"version": 1, "rooms": {"meeting:m": [1, "", []]}}',
    b'{"version": 1, "rooms": {"meeting:m": [1, "e", [[2, 0, "2[]"]]]}}',
    b'{"version": 1, "rooms": {"meeting:m": [3, "e", [[1, 0, "2[]"], [3, 0, "2[]"]]]}}',
    b'{"version": 1, "rooms": {"meeting:m": [1, "e", [[1, 0, 7]]]}}',
])
def test_saved_rooms_that_cannot_be_read_start_new_epochs(
    body: bytes, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "rooms.saved"
    path.write_bytes(body)
    streams = MemoryRoomStreams(max_len=10, max_age=60)
    assert streams.restore(path) == 0
    assert not path.exists()
    assert "cannot be read" in caplog.text


async def test_redis_stream_append_raises_when_redis_is_unreachable() -> None:
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    redis = Redis(port=free_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    batcher = RedisBatcher(redis)
    link = RedisLink(RedisAddress.of(redis))
    streams = RedisRoomStreams(link=link, max_len=10, max_age=60, prefix="t:")
    try:
        with pytest.raises(ServiceUnavailable):
            await streams.append("project:p", "e", {})
        with pytest.raises(ServiceUnavailable):
            await streams.since("project:p", 0, None)
    finally:
        await batcher.close()
        await link.close()
        await redis.aclose()


async def test_saved_rooms_that_cannot_be_removed_are_not_taken_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    streams = MemoryRoomStreams(max_len=10, max_age=60)
    await streams.append("meeting:m", "message", {})
    path = tmp_path / "rooms.saved"
    streams.save(path)

    def refused(_: Path) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(streams_module, "forget", refused)
    fresh = MemoryRoomStreams(max_len=10, max_age=60)
    assert fresh.restore(path) == 0  # kept, it could come back after a crash: not taken
    assert (await fresh.position("meeting:m")).epoch != (
        await streams.position("meeting:m")).epoch
    assert "cannot be removed (Permission denied)" in caplog.text
