"""Room streams: per-room monotonic offsets and a bounded history for recovery.

Every stored event is framed once as a Socket.IO EVENT packet whose payload carries `room` and
`offset`. The frame is what goes on the wire, into pub/sub and into the history, so no process
encodes the same event twice.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from redis.asyncio import Redis

from realtime.batcher import RedisBatcher
from realtime.redislink import LuaScript, RedisLink


@dataclass(frozen=True)
class Recovery:
    recovered: bool
    frames: list[str]
    offset: int  # the room's latest offset when the history was read


def frame_parts(event: str, room: str, data: dict[str, Any]) -> tuple[bytes, bytes]:
    """The packet text before and after the offset, which only the stream assigns."""
    body = {k: v for k, v in data.items() if k not in ("room", "offset")}
    prefix = b'2[' + orjson.dumps(event) + b',{"room":' + orjson.dumps(room) + b',"offset":'
    encoded = orjson.dumps(body)
    suffix = (b"," + encoded[1:] if encoded != b"{}" else b"}") + b"]"
    return prefix, suffix


def offset_in(frame: str, room: str) -> int | None:
    """The offset of a stored event's frame (as `frame_parts` lays it out), None for a
    volatile frame."""
    head = frame.find(',{"room":')
    if head < 0:
        return None
    marker = f',{{"room":"{room}","offset":'
    if not frame.startswith(marker, head):
        return None
    start = end = head + len(marker)
    while end < len(frame) and frame[end].isdigit():
        end += 1
    return int(frame[start:end]) if end > start else None


def volatile_frame(event: str, data: Mapping[str, object]) -> str:
    return "2" + orjson.dumps([event, data]).decode()


class RoomStreams(Protocol):
    async def append(self, room: str, event: str, data: dict[str, Any]) -> tuple[int, str]:
        """Assign the next offset, keep the frame and publish it; return (offset, frame)."""
        ...

    async def since(self, room: str, offset: int) -> Recovery: ...

    async def latest(self, room: str) -> int: ...


class MemoryRoomStreams:
    """The embedded default: a ring per room, in this process only."""

    def __init__(self, *, max_len: int, max_age: float) -> None:
        self._max_len = max_len
        self._max_age = max_age
        self._offsets: dict[str, int] = {}
        self._rings: dict[str, deque[tuple[int, float, str]]] = {}

    async def append(self, room: str, event: str, data: dict[str, Any]) -> tuple[int, str]:
        offset = self._offsets.get(room, 0) + 1
        self._offsets[room] = offset
        prefix, suffix = frame_parts(event, room, data)
        frame = (prefix + str(offset).encode() + suffix).decode()
        ring = self._rings.setdefault(room, deque(maxlen=self._max_len))
        ring.append((offset, time.time(), frame))
        return offset, frame

    async def since(self, room: str, offset: int) -> Recovery:
        latest = self._offsets.get(room, 0)
        if offset >= latest:
            return Recovery(offset == latest, [], latest)
        oldest = time.time() - self._max_age
        kept = [(o, frame) for o, t, frame in self._rings.get(room, ()) if o > offset]
        if not kept or kept[0][0] != offset + 1 or self._too_old(room, offset, oldest):
            return Recovery(False, [], latest)
        return Recovery(True, [frame for _, frame in kept], latest)

    async def latest(self, room: str) -> int:
        return self._offsets.get(room, 0)

    def _too_old(self, room: str, offset: int, oldest: float) -> bool:
        return any(o == offset + 1 and t < oldest for o, t, _ in self._rings.get(room, ()))


# INCR the room's offset, add the frame to its capped stream and publish it, atomically, so
# the order of offsets is the order of delivery on every process.
_APPEND = LuaScript("""
local offset = redis.call('INCR', KEYS[1])
local frame = ARGV[3] .. offset .. ARGV[4]
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[1], offset .. '-0', 'f', frame, 't', ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('PUBLISH', KEYS[3], '|' .. frame)
return offset
""")


def room_channel(prefix: str, room: str) -> str:
    return f"{prefix}r:{room}"


class RedisRoomStreams:
    """Offsets and capped streams in Redis, shared by every process and every worker.

    The append, once per event, goes over Roomcast's own pipelined connection
    (realtime/redislink.py); reading history, once per rejoin, through redis-py.
    """

    def __init__(
        self, redis: Redis, batcher: RedisBatcher, *, link: RedisLink, max_len: int,
        max_age: int, prefix: str,
    ) -> None:
        self._redis = redis
        self._batcher = batcher
        self._link = link
        self._max_len = max_len
        self._max_age = max_age
        self._prefix = prefix

    async def append(self, room: str, event: str, data: dict[str, Any]) -> tuple[int, str]:
        prefix, suffix = frame_parts(event, room, data)
        keys = [self._key("off", room), self._key("stream", room),
                room_channel(self._prefix, room)]
        args: list[Any] = [self._max_len, self._max_age, prefix, suffix, f"{time.time():.3f}"]
        offset = int(await self._link.evalsha(_APPEND, keys, args))
        return offset, (prefix + str(offset).encode() + suffix).decode()

    async def since(self, room: str, offset: int) -> Recovery:
        latest = await self.latest(room)
        if offset >= latest:
            return Recovery(offset == latest, [], latest)
        stream, start = self._key("stream", room), f"{offset + 1}-0"
        entries: Any = await self._batcher.run(lambda pipe: pipe.xrange(stream, min=start))
        oldest = time.time() - self._max_age
        if not entries or _offset_of(entries[0][0]) != offset + 1:
            return Recovery(False, [], latest)
        if float(entries[0][1][b"t"]) < oldest:
            return Recovery(False, [], latest)
        return Recovery(True, [fields[b"f"].decode() for _, fields in entries], latest)

    async def latest(self, room: str) -> int:
        key = self._key("off", room)
        return int(await self._batcher.run(lambda pipe: pipe.get(key)) or 0)

    def _key(self, kind: str, room: str) -> str:
        return f"{self._prefix}{kind}:{room}"


def _offset_of(entry_id: bytes) -> int:
    return int(entry_id.split(b"-", 1)[0])
