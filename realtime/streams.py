"""Room streams: per-room monotonic offsets and a bounded history for recovery.

Every stored event is framed once as a Socket.IO EVENT packet whose payload carries `room`,
`offset` and `epoch`. The frame is what goes on the wire, into pub/sub and into the history, so
no process encodes the same event twice.

A room's offsets count within an epoch: a random id made with the room's offset counter. Where
the counter is lost (Redis restarted empty, the embedded server stopped without saving its
rooms) the room starts again at offset 1 in a new epoch, so an offset a client kept from before
can never be taken for one of the new history: recovery requires the client's epoch to be the
room's. The embedded server saves its rooms' positions and histories when it stops normally
and takes them back when it starts (`MemoryRoomStreams.save` and `restore`), so a restart
keeps them; anything else (a crash, an event after the save) leaves no saved rooms.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from realtime.redislink import LuaScript, RedisLink
from realtime.saved import forget, write_whole

log = logging.getLogger("roomcast.streams")

# The wall clock stamping each stored event and judging its age against the history's maximum
# age (seconds since the epoch). Injected so tests can move it instead of waiting.
Clock = Callable[[], float]


@dataclass(frozen=True)
class Position:
    """Where a room's history stands: its latest offset and the epoch offsets count in."""

    offset: int
    epoch: str


@dataclass(frozen=True)
class Recovery:
    recovered: bool
    frames: list[str]
    offset: int  # the room's latest offset when the history was read
    epoch: str  # the room's epoch: what the client sends back with `since` next time


def new_epoch() -> str:
    return secrets.token_hex(6)


def judge(position: Position, since: int, epoch: str | None) -> Recovery | None:
    """The answer to `since`/`epoch` that needs no history read, or None to read it.

    Without an epoch only `since: 0` (nothing seen yet) can be recovered; with another epoch
    than the room's nothing can: the offsets the client counted are not this history's."""
    if (since > 0 and epoch is None) or (epoch is not None and epoch != position.epoch):
        return Recovery(False, [], position.offset, position.epoch)
    if since >= position.offset:
        return Recovery(since == position.offset, [], position.offset, position.epoch)
    return None


def frame_parts(event: str, room: str, data: dict[str, Any]) -> tuple[bytes, bytes]:
    """The packet text before and after the offset and epoch, which only the stream assigns
    (`stored_frame` puts them together)."""
    body = {k: v for k, v in data.items() if k not in ("room", "offset", "epoch")}
    prefix = b'2[' + orjson.dumps(event) + b',{"room":' + orjson.dumps(room) + b',"offset":'
    encoded = orjson.dumps(body)
    suffix = (b"," + encoded[1:] if encoded != b"{}" else b"}") + b"]"
    return prefix, suffix


EPOCH_MARK = ',"epoch":"'


def stored_frame(prefix: bytes, offset: int, epoch: str, suffix: bytes) -> str:
    """A stored event's frame, as the Redis append script lays it out too."""
    return (prefix + f'{offset}{EPOCH_MARK}{epoch}"'.encode() + suffix).decode()


def position_in(frame: str, room: str) -> Position | None:
    """The offset and epoch of a stored event's frame (as `stored_frame` lays it out), None
    for a volatile frame."""
    head = frame.find(',{"room":')
    if head < 0:
        return None
    marker = f',{{"room":"{room}","offset":'
    if not frame.startswith(marker, head):
        return None
    start = end = head + len(marker)
    while end < len(frame) and frame[end].isdigit():
        end += 1
    if end == start or not frame.startswith(EPOCH_MARK, end):
        return None
    epoch_at = end + len(EPOCH_MARK)
    epoch_end = frame.find('"', epoch_at)
    if epoch_end < 0:
        return None
    return Position(int(frame[start:end]), frame[epoch_at:epoch_end])


def volatile_frame(event: str, data: Mapping[str, object]) -> str:
    return "2" + orjson.dumps([event, data]).decode()


class RoomStreams(Protocol):
    async def append(self, room: str, event: str, data: dict[str, Any]) -> tuple[int, str]:
        """Assign the next offset, keep the frame and publish it; return (offset, frame)."""
        ...

    async def since(self, room: str, offset: int, epoch: str | None) -> Recovery:
        """The frames after `offset` when `epoch` is the room's and the history reaches
        back that far; else `recovered: False` and none."""
        ...

    async def position(self, room: str) -> Position:
        """The room's latest offset and epoch (an epoch is made for a room without one)."""
        ...


SAVED_ROOMS_VERSION = 1
SAVED_ROOMS_FILE = "rooms.saved"  # in DATA_DIR, between a normal stop and the next start


class MemoryRoomStreams:
    """The embedded default: a ring per room, in this process. A normal stop saves the rooms
    (`save`) for the next start to take back (`restore`); without that a start begins every
    room in a new epoch."""

    def __init__(self, *, max_len: int, max_age: float, clock: Clock = time.time) -> None:
        self._max_len = max_len
        self._max_age = max_age
        self._clock = clock
        self._positions: dict[str, Position] = {}
        self._rings: dict[str, deque[tuple[int, float, str]]] = {}
        self._saved: Path | None = None  # the file `save` wrote, until an append outdates it

    async def append(self, room: str, event: str, data: dict[str, Any]) -> tuple[int, str]:
        if self._saved is not None:
            # An event after the save: the saved rooms would hand its offset out again.
            forget(self._saved)
            self._saved = None
        current = self._current(room)
        position = self._positions[room] = Position(current.offset + 1, current.epoch)
        prefix, suffix = frame_parts(event, room, data)
        frame = stored_frame(prefix, position.offset, position.epoch, suffix)
        ring = self._rings.setdefault(room, deque(maxlen=self._max_len))
        ring.append((position.offset, self._clock(), frame))
        return position.offset, frame

    async def since(self, room: str, offset: int, epoch: str | None) -> Recovery:
        position = self._current(room)
        answer = judge(position, offset, epoch)
        if answer is not None:
            return answer
        oldest = self._clock() - self._max_age
        kept = [(o, t, frame) for o, t, frame in self._rings.get(room, ()) if o > offset]
        if not kept or kept[0][0] != offset + 1 or kept[0][1] < oldest:
            return Recovery(False, [], position.offset, position.epoch)
        return Recovery(True, [frame for _, _, frame in kept], position.offset, position.epoch)

    async def position(self, room: str) -> Position:
        return self._current(room)

    def _current(self, room: str) -> Position:
        position = self._positions.get(room)
        if position is None:
            position = self._positions[room] = Position(0, new_epoch())
        return position

    def save(self, path: Path) -> int:
        """Write every room's position and the history it still keeps to `path` (whole or not
        at all), for the next start of this server on the same data; returns the rooms saved.
        Called once nothing appends any more: an append after it removes the file."""
        oldest = self._clock() - self._max_age
        rooms = {room: [position.offset, position.epoch,
                        [[o, t, frame] for o, t, frame in self._rings.get(room, ()) if t >= oldest]]
                 for room, position in self._positions.items()}
        write_whole(path, orjson.dumps({"version": SAVED_ROOMS_VERSION, "rooms": rooms}))
        self._saved = path
        return len(rooms)

    def restore(self, path: Path) -> int:
        """Take back the rooms a normal stop saved to `path`, then remove the file before
        anything is served (so a later crash cannot bring back offsets handed out again);
        returns the rooms taken back. A file that cannot be read is removed and logged, and
        the rooms start in new epochs; so do they when the file cannot be removed (what it
        holds then stays consistent: no offset of its epochs is handed out meanwhile)."""
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            log.warning("the saved room histories in %s cannot be read (%s): every room starts "
                        "in a new epoch", path, exc.strerror or exc)
            return 0
        try:
            rooms = _saved_rooms(orjson.loads(body), self._max_len)
        except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
            log.warning("the saved room histories in %s cannot be read (%s): every room starts "
                        "in a new epoch", path, exc)
            rooms = {}
        try:
            forget(path)
        except OSError as exc:
            log.warning("the saved room histories in %s cannot be removed (%s): every room "
                        "starts in a new epoch", path, exc.strerror or exc)
            return 0
        oldest = self._clock() - self._max_age
        for room, (position, ring) in rooms.items():
            self._positions[room] = position
            kept = deque(((o, t, f) for o, t, f in ring if t >= oldest), maxlen=self._max_len)
            if kept:
                self._rings[room] = kept
        return len(rooms)


Ring = list[tuple[int, float, str]]  # (offset, stamped at, frame) per kept event


def _saved_rooms(saved: Any, max_len: int) -> dict[str, tuple[Position, Ring]]:
    """The rooms of a saved file, checked entry by entry (ValueError when one is not as `save`
    writes it)."""
    if not isinstance(saved, dict) or saved.get("version") != SAVED_ROOMS_VERSION:
        raise ValueError("not a file of this version")
    rooms = saved.get("rooms")
    if not isinstance(rooms, dict):
        raise ValueError("no rooms")
    found: dict[str, tuple[Position, Ring]] = {}
    for room, entry in rooms.items():
        offset, epoch, ring = entry
        if type(offset) is not int or offset < 0 or not isinstance(epoch, str) or not epoch:
            raise ValueError(f"room {room}: a bad position")
        frames: Ring = []
        for o, t, frame in ring[-max_len:]:
            if (type(o) is not int or not 0 < o <= offset or not isinstance(t, (int, float))
                    or not isinstance(frame, str) or (frames and o != frames[-1][0] + 1)):
                raise ValueError(f"room {room}: a bad history entry")
            frames.append((o, float(t), frame))
        found[room] = (Position(offset, epoch), frames)
    return found


# INCR the room's offset, add the frame to its capped stream and publish it, atomically, so
# the order of offsets is the order of delivery on every process. The epoch (KEYS[4]) is made
# with the room's first offset or read (ARGV[6] is a fresh one, used only when there is none).
_APPEND = LuaScript("""
local offset = redis.call('INCR', KEYS[1])
local epoch = redis.call('GET', KEYS[4])
if not epoch then
  epoch = ARGV[6]
  redis.call('SET', KEYS[4], epoch)
end
local frame = ARGV[3] .. offset .. ',"epoch":"' .. epoch .. '"' .. ARGV[4]
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[1], offset .. '-0', 'f', frame, 't', ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('PUBLISH', KEYS[3], '|' .. frame)
return {offset, epoch}
""")

# The room's latest offset (KEYS[1]) and its epoch (KEYS[2]), made now (ARGV[1]) when the room
# has none yet, so a client joining an empty room already holds the epoch its first events
# will count in.
_POSITION_BODY = """
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[2], epoch)
end
local offset = tonumber(redis.call('GET', KEYS[1]) or '0')
"""
_POSITION = LuaScript(_POSITION_BODY + "return {offset, epoch}")

# A rejoin's read in one round trip: the position and, when the client's `since` (ARGV[2]) and
# epoch (ARGV[3], empty for none) may be recovered (see `judge`), the stream's (KEYS[3])
# entries after `since`, read in the same atomic step as the position.
_SINCE = LuaScript(_POSITION_BODY + """
local since = tonumber(ARGV[2])
if since >= offset or (ARGV[3] == '' and since > 0) or (ARGV[3] ~= '' and ARGV[3] ~= epoch) then
  return {offset, epoch}
end
return {offset, epoch, redis.call('XRANGE', KEYS[3], (since + 1) .. '-0', '+')}
""")


def room_channel(prefix: str, room: str) -> str:
    return f"{prefix}r:{room}"


class RedisRoomStreams:
    """Offsets and capped streams in Redis, shared by every process and every worker.

    The append, once per event, and a rejoin's read of the position and the history, in one
    script each, go over Roomcast's own pipelined connection (realtime/redislink.py).
    """

    def __init__(self, *, link: RedisLink, max_len: int, max_age: int, prefix: str,
                 clock: Clock = time.time) -> None:
        self._clock = clock
        self._link = link
        self._max_len = max_len
        self._max_age = max_age
        self._prefix = prefix

    async def append(self, room: str, event: str, data: dict[str, Any]) -> tuple[int, str]:
        prefix, suffix = frame_parts(event, room, data)
        keys = [self._key("off", room), self._key("stream", room),
                room_channel(self._prefix, room), self._key("epoch", room)]
        stamp = f"{self._clock():.3f}"
        args: list[Any] = [self._max_len, self._max_age, prefix, suffix, stamp, new_epoch()]
        offset, epoch = await self._link.evalsha(_APPEND, keys, args)
        return int(offset), stored_frame(prefix, int(offset), _text(epoch), suffix)

    async def since(self, room: str, offset: int, epoch: str | None) -> Recovery:
        keys = [self._key("off", room), self._key("epoch", room), self._key("stream", room)]
        reply = await self._link.evalsha(_SINCE, keys, [new_epoch(), offset, epoch or ""])
        position = Position(int(reply[0]), _text(reply[1]))
        answer = judge(position, offset, epoch)
        if answer is not None:
            return answer
        entries: list[Any] = reply[2] if len(reply) > 2 else []
        lost = Recovery(False, [], position.offset, position.epoch)
        if not entries or _offset_of(entries[0][0]) != offset + 1:
            return lost
        first = _fields(entries[0][1])
        if float(first[b"t"]) < self._clock() - self._max_age:
            return lost
        frames = [_fields(fields)[b"f"].decode() for _, fields in entries]
        if position_in(frames[0], room) != Position(offset + 1, position.epoch):
            return lost  # the stream outlived a reset of the counter (another epoch's)
        return Recovery(True, frames, position.offset, position.epoch)

    async def position(self, room: str) -> Position:
        keys = [self._key("off", room), self._key("epoch", room)]
        offset, epoch = await self._link.evalsha(_POSITION, keys, [new_epoch()])
        return Position(int(offset), _text(epoch))

    def _key(self, kind: str, room: str) -> str:
        return f"{self._prefix}{kind}:{room}"


def _text(reply: Any) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def _fields(flat: list[bytes]) -> dict[bytes, bytes]:
    """A stream entry's fields as XRANGE answers them inside a script: name, value, ..."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _offset_of(entry_id: bytes) -> int:
    return int(entry_id.split(b"-", 1)[0])
