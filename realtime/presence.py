"""Who is in a room: one entry per user, counted over their connections on every process.

Redis keeps, per room, a hash of connections (`proc/sid` -> user, name, status) and a hash of
per-user connection counts; per process, the set of its connections and a liveness key that
expires unless the process keeps refreshing it. A surviving process removes the connections of
a process whose liveness key expired, so a SIGKILLed process's users leave on their own. A
rejoin that names the connection it follows (`previous`, the socket id it had) takes that
connection's place when another process recorded it for the same user: a client whose process
died comes back on another without the room hearing it leave or come back.

The embedded default keeps presence in its memory. A normal stop saves it
(`MemoryPresenceStore.save`) and the next start holds each saved connection until
PRESENCE_TTL_SECONDS after the stop (`restore`): a user's returning connection takes a held
one's place without a word to the room, and what is still held then leaves as a dead
process's connections do on Redis, so a restart does not make every user leave and join
again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.errors import ServiceUnavailable
from realtime.contract import PresenceEntry
from realtime.redislink import Arg, LuaScript, RedisLink
from realtime.saved import forget, write_whole

log = logging.getLogger("roomcast.realtime")


@dataclass(frozen=True)
class Departure:
    """A connection removed from a room; `remaining` is the user's connection count after."""

    room: str
    sid: str
    user_id: str
    remaining: int
    held: bool = False  # a connection held since a restart (it has no socket, nor a stay)
    # A dead process's connection whose place its user's returning connection took: the room
    # is told nothing (only its meeting stay ends); `user_id` is not known then.
    taken: bool = False


class Entered(NamedTuple):
    """A connection recorded in a room: the user's connection count, the room's snapshot right
    after, and, when the connection took the place of one held since a restart or of its
    user's connection on a dead process (`previous`), the user's entry before it (the room
    already counts the user: it is told only what changed)."""

    connections: int
    presence: list[PresenceEntry]
    replaced: PresenceEntry | None = None


class PresenceStore(Protocol):
    async def add(self, room: str, sid: str, user_id: str, name: str, status: str) -> int:
        """Record the connection; return the user's connection count in the room."""
        ...

    async def enter(self, room: str, sid: str, user_id: str, name: str,
                    status: str, previous: str | None = None) -> Entered:
        """`add`, and the room's snapshot right after it, in one step (one Redis round trip
        for a join instead of two). With `previous`, the socket id the client had before
        this connection: where another process recorded that connection for the same user,
        this one takes its place (`Entered.replaced`) instead of adding to the count."""
        ...

    async def remove(self, room: str, sid: str) -> Departure | None: ...

    async def snapshot(self, room: str) -> list[PresenceEntry]: ...

    async def entry(self, room: str, user_id: str) -> PresenceEntry | None: ...

    async def heartbeat(self) -> bool:
        """Refresh this process's liveness; False if others had given it up for dead."""
        ...

    async def reap(self) -> list[Departure]:
        """Remove the connections of processes that stopped refreshing their liveness."""
        ...

    async def sweep(self, live: Callable[[], set[tuple[str, str]]]) -> list[Departure]:
        """Remove this process's entries whose (room, sid) `live()` no longer lists: a removal
        that failed (Redis was unreachable as the socket left) is made good here."""
        ...


def _aggregate(values: list[Any]) -> list[PresenceEntry]:
    users: dict[str, tuple[PresenceEntry, float]] = {}
    for raw in values:
        value = orjson.loads(raw)
        known = users.get(value["u"])
        if known is None:
            users[value["u"]] = (PresenceEntry(user_id=value["u"], name=value["n"],
                                               status=value["s"], connections=1), value["t"])
            continue
        entry, at = known
        entry.connections += 1
        if value["t"] >= at:
            entry.status = value["s"]
            users[value["u"]] = (entry, value["t"])
    return sorted((entry for entry, _ in users.values()), key=lambda e: e.user_id)


def _value(user_id: str, name: str, status: str) -> bytes:
    return orjson.dumps({"u": user_id, "n": name, "s": status, "t": time.time()})


SAVED_PRESENCE_VERSION = 1
SAVED_PRESENCE_FILE = "presence.saved"  # in DATA_DIR, between a normal stop and the next start
_HELD = "~held/"  # the sids of held connections: `~` is never in a Socket.IO sid


class MemoryPresenceStore:
    """The embedded default: one process; what it reaps are the connections held since a
    restart (`restore`) that were not taken back in time."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._rooms: dict[str, dict[str, bytes]] = {}
        # Per room, per user: the connections recorded, so adding and removing one costs the
        # same however many the room holds.
        self._counts: dict[str, dict[str, int]] = {}
        self._users: dict[str, dict[str, str]] = {}  # room -> sid -> user_id
        # Per room, per user: the held connections' sids and until when they are held (wall
        # clock), the latest last.
        self._held: dict[str, dict[str, list[tuple[str, float]]]] = {}
        self._held_made = 0
        # Per room, its snapshot until it changes: a connection taking a held place unchanged
        # (a restart's crowd coming back) reads it without decoding the room's entries.
        self._snapshots: dict[str, list[PresenceEntry]] = {}

    async def add(self, room: str, sid: str, user_id: str, name: str, status: str) -> int:
        self._snapshots.pop(room, None)
        conns = self._rooms.setdefault(room, {})
        counts = self._counts.setdefault(room, {})
        if sid not in conns:
            counts[user_id] = counts.get(user_id, 0) + 1
            self._users.setdefault(room, {})[sid] = user_id
        conns[sid] = _value(user_id, name, status)
        return counts[user_id]

    async def enter(self, room: str, sid: str, user_id: str, name: str,
                    status: str, previous: str | None = None) -> Entered:
        # One process: a previous connection of this process left the room when it ended, so
        # `previous` names nothing here; the places held since a restart go by user.
        held = self._held.get(room, {}).get(user_id)
        if held and sid not in self._rooms[room]:
            # The user's connection is back: it takes a held one's place, the count unchanged.
            before = next(e for e in self._snapshot(room) if e.user_id == user_id)
            held_sid, _ = held.pop()
            if not held:
                self._forget_held(room, user_id)
            conns, users = self._rooms[room], self._users[room]
            del conns[held_sid], users[held_sid]
            conns[sid] = _value(user_id, name, status)
            users[sid] = user_id
            if (name, status) != (before.name, before.status):
                self._snapshots.pop(room, None)
            return Entered(self._counts[room][user_id], await self.snapshot(room), before)
        count = await self.add(room, sid, user_id, name, status)
        return Entered(count, await self.snapshot(room))

    def _forget_held(self, room: str, user_id: str) -> None:
        held = self._held[room]
        del held[user_id]
        if not held:
            del self._held[room]

    async def remove(self, room: str, sid: str) -> Departure | None:
        return self._remove(room, sid)

    def _remove(self, room: str, sid: str) -> Departure | None:
        conns = self._rooms.get(room, {})
        if conns.pop(sid, None) is None:
            return None
        self._snapshots.pop(room, None)
        user_id = self._users[room].pop(sid)
        counts = self._counts[room]
        remaining = counts[user_id] = counts[user_id] - 1
        if not remaining:
            del counts[user_id]
        if not conns:
            for rooms in (self._rooms, self._counts, self._users):
                rooms.pop(room, None)
        return Departure(room, sid, user_id, remaining, held=sid.startswith(_HELD))

    async def snapshot(self, room: str) -> list[PresenceEntry]:
        return list(self._snapshot(room))

    def _snapshot(self, room: str) -> list[PresenceEntry]:
        """The room's snapshot as kept (callers copy it before handing it out)."""
        snapshot = self._snapshots.get(room)
        if snapshot is None:
            conns = self._rooms.get(room)
            if not conns:
                return []
            snapshot = self._snapshots[room] = _aggregate(list(conns.values()))
        return snapshot

    async def entry(self, room: str, user_id: str) -> PresenceEntry | None:
        return next((e for e in await self.snapshot(room) if e.user_id == user_id), None)

    async def heartbeat(self) -> bool:
        return True

    async def reap(self) -> list[Departure]:
        """Remove the held connections whose time is up."""
        now = self._clock()
        departures: list[Departure] = []
        for room, users in list(self._held.items()):
            for user_id, held in list(users.items()):
                while held and held[0][1] <= now:
                    departure = self._remove(room, held.pop(0)[0])
                    if departure is not None:
                        departures.append(departure)
                if not held:
                    self._forget_held(room, user_id)
        return departures

    async def sweep(self, live: Callable[[], set[tuple[str, str]]]) -> list[Departure]:
        return []  # removals here cannot fail

    def held(self) -> int:
        """Connections held since a restart, not yet taken back nor reaped."""
        return sum(len(held) for users in self._held.values() for held in users.values())

    def save(self, path: Path, hold_for: float) -> int:
        """Write who is in each room to `path` for the next start, each connection to be held
        until `hold_for` seconds from now (a held one keeps its own time); returns the
        connections saved. Called once the sockets are gone (a stop leaves their entries)."""
        until = self._clock() + hold_for
        held_until = {sid: at for users in self._held.values() for held in users.values()
                      for sid, at in held}
        rooms: dict[str, list[list[Any]]] = {}
        saved = 0
        for room, conns in self._rooms.items():
            users = self._users[room]
            per_user: dict[str, list[float]] = {}
            for sid in conns:
                per_user.setdefault(users[sid], []).append(held_until.get(sid, until))
            rooms[room] = [[entry.user_id, entry.name, entry.status,
                            sorted(per_user[entry.user_id])]
                           for entry in _aggregate(list(conns.values()))]
            saved += len(conns)
        write_whole(path, orjson.dumps({"version": SAVED_PRESENCE_VERSION, "rooms": rooms}))
        return saved

    def restore(self, path: Path) -> int:
        """Hold the connections a normal stop saved to `path` whose time is not up, then remove
        the file; returns the connections held. A file that cannot be read, or removed, holds
        nothing (logged): presence then starts empty, as after a crash."""
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            log.warning("the saved presence in %s cannot be read (%s): presence starts empty",
                        path, exc.strerror or exc)
            return 0
        try:
            rooms = _saved_presence(orjson.loads(body))
        except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
            log.warning("the saved presence in %s cannot be read (%s): presence starts empty",
                        path, exc)
            rooms = {}
        try:
            forget(path)
        except OSError as exc:
            log.warning("the saved presence in %s cannot be removed (%s): presence starts empty",
                        path, exc.strerror or exc)
            return 0
        now = self._clock()
        held = 0
        for room, entries in rooms.items():
            for user_id, name, status, untils in entries:
                value = orjson.dumps({"u": user_id, "n": name, "s": status, "t": 0.0})
                for until in untils:
                    if until > now:
                        self._hold(room, user_id, value, until)
                        held += 1
        return held

    def _hold(self, room: str, user_id: str, value: bytes, until: float) -> None:
        self._held_made += 1
        sid = f"{_HELD}{self._held_made}"
        self._snapshots.pop(room, None)
        self._rooms.setdefault(room, {})[sid] = value
        self._users.setdefault(room, {})[sid] = user_id
        counts = self._counts.setdefault(room, {})
        counts[user_id] = counts.get(user_id, 0) + 1
        # Kept latest last: a returning connection takes the longest-held place, and `reap`
        # takes the soonest from the front.
        held = self._held.setdefault(room, {}).setdefault(user_id, [])
        held.append((sid, until))
        held.sort(key=lambda item: item[1])


def _saved_presence(saved: Any) -> dict[str, list[tuple[str, str, str, list[float]]]]:
    """The rooms of a saved presence file, checked entry by entry (ValueError when one is not
    as `save` writes it)."""
    if not isinstance(saved, dict) or saved.get("version") != SAVED_PRESENCE_VERSION:
        raise ValueError("not a file of this version")
    rooms = saved.get("rooms")
    if not isinstance(rooms, dict):
        raise ValueError("no rooms")
    found: dict[str, list[tuple[str, str, str, list[float]]]] = {}
    for room, entries in rooms.items():
        if not isinstance(room, str) or not isinstance(entries, list):
            raise ValueError("a bad room")
        found[room] = []
        for entry in entries:
            user_id, name, status, untils = entry
            if (not all(isinstance(v, str) for v in (user_id, name, status))
                    or not isinstance(untils, list)
                    or not all(isinstance(t, (int, float)) and not isinstance(t, bool)
                               for t in untils)):
                raise ValueError(f"room {room}: a bad entry")
            found[room].append((user_id, name, status, [float(t) for t in untils]))
    return found


_ADD_BODY = """
local count
if redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('SADD', KEYS[3], ARGV[4])
  count = redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
else
  count = tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or '1')
end
"""
# Records a connection (KEYS: pres, presc, conns; ARGV: field, value, user, member) and answers
# the user's connection count in the room.
_ADD = LuaScript(_ADD_BODY + "return count")
# The same, answering {count, the room's entries} (a join's snapshot, read in the same step).
_ENTER = LuaScript(_ADD_BODY + "return {count, redis.call('HVALS', KEYS[1])}")
# `_ENTER` for a rejoin that names the connection it follows (ARGV[5], a socket id; ARGV[6]
# this process; KEYS[4] the set of processes): when the room holds that connection for the same
# user, recorded by another process (on this one it would still be open: an ended one left its
# rooms), the new connection takes its place, the user's count unchanged, and the answer adds
# the entry it replaced. It looks under each process's name, so it costs what the processes
# number, not what the room holds. The dead process's set of connections keeps the old one
# until its reaping, which then finds nothing of it to remove.
_TAKE = LuaScript("""
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  for _, proc in ipairs(redis.call('SMEMBERS', KEYS[4])) do
    if proc ~= ARGV[6] then
      local field = proc .. '/' .. ARGV[5]
      local before = redis.call('HGET', KEYS[1], field)
      if before and cjson.decode(before)['u'] == ARGV[3] then
        redis.call('HDEL', KEYS[1], field)
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('SADD', KEYS[3], ARGV[4])
        local count = tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or '1')
        return {count, redis.call('HVALS', KEYS[1]), before}
      end
    end
  end
end
""" + _ADD_BODY + "return {count, redis.call('HVALS', KEYS[1])}")

# Removes a batch of connections: for each, KEYS holds (pres, presc, conns) and ARGV
# (field, member), ARGV[1] the count; answers (connections left, user) per removal, -1 for a
# connection that was not recorded.
_REMOVE_MANY = LuaScript("""
local out = {}
for i = 0, tonumber(ARGV[1]) - 1 do
  local pres, presc, conns = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
  local field, member = ARGV[2 * i + 2], ARGV[2 * i + 3]
  local value = redis.call('HGET', pres, field)
  redis.call('SREM', conns, member)
  if not value then
    out[#out + 1] = -1
    out[#out + 1] = ''
  else
    local user = cjson.decode(value)['u']
    redis.call('HDEL', pres, field)
    local left = redis.call('HINCRBY', presc, user, -1)
    if left <= 0 then
      redis.call('HDEL', presc, user)
      left = 0
    end
    out[#out + 1] = left
    out[#out + 1] = user
  end
end
return out
""")
REMOVE_BATCH = 256  # removals per script call

_Removal = tuple[str, str, str, "asyncio.Future[Departure | None]"]  # room, sid, proc, answer


class RedisPresenceStore:
    def __init__(self, redis: Redis, *, link: RedisLink, process_id: str, ttl: float,
                 prefix: str) -> None:
        self._redis = redis
        # Entries are added, read and removed over one pipelined connection
        # (realtime/redislink.py), so a socket's removal never overtakes its addition.
        self._link = link
        self._proc = process_id
        self._ttl_ms = max(1, int(ttl * 500))  # liveness lasts half the bound: see heartbeat
        self._prefix = prefix
        self._registered = False
        # Removals wait here while the previous batch is in Redis, then go as one script: a
        # mass disconnect costs one round trip and one script per batch, not per socket.
        self._removals: list[_Removal] = []
        self._flushing: asyncio.Task[None] | None = None

    async def add(self, room: str, sid: str, user_id: str, name: str, status: str) -> int:
        return int(await self._link.evalsha(_ADD, self._keys(room, self._proc),
                                            self._add_args(room, sid, user_id, name, status)))

    async def enter(self, room: str, sid: str, user_id: str, name: str,
                    status: str, previous: str | None = None) -> Entered:
        args = self._add_args(room, sid, user_id, name, status)
        if previous is None or previous == sid:
            count, values = await self._link.evalsha(_ENTER, self._keys(room, self._proc), args)
            return Entered(int(count), _aggregate(values))
        answer = await self._link.evalsha(
            _TAKE, [*self._keys(room, self._proc), self._key("procs", "")],
            [*args, previous, self._proc])
        count, values = int(answer[0]), answer[1]
        if len(answer) < 3:
            return Entered(count, _aggregate(values))
        # The user's entry as the room had it before: their connections' values with the
        # taken one back in the new one's place (a user's status is their latest one's).
        mine = b'"u":' + orjson.dumps(user_id)
        own, taken = args[1], answer[2]
        before = _aggregate([taken if value == own else value
                             for value in values if mine in value])
        replaced = next(entry for entry in before if entry.user_id == user_id)
        return Entered(count, _aggregate(values), replaced)

    def _add_args(self, room: str, sid: str, user_id: str, name: str,
                  status: str) -> list[Arg]:
        return [f"{self._proc}/{sid}", _value(user_id, name, status), user_id, f"{room}\t{sid}"]

    async def remove(self, room: str, sid: str) -> Departure | None:
        return await self._remove(room, sid, self._proc)

    async def snapshot(self, room: str) -> list[PresenceEntry]:
        return _aggregate(await self._link.call("HVALS", self._key("pres", room)))

    async def entry(self, room: str, user_id: str) -> PresenceEntry | None:
        return next((e for e in await self.snapshot(room) if e.user_id == user_id), None)

    async def heartbeat(self) -> bool:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self._alive(self._proc), b"1", px=self._ttl_ms)
            pipe.sadd(self._key("procs", ""), self._proc)
            _, added = await self._call(pipe.execute())
        # Re-added after being registered: another process took this one for dead.
        healthy = not (self._registered and added == 1)
        self._registered = True
        return healthy

    async def reap(self) -> list[Departure]:
        procs = await self._call(self._redis.smembers(self._key("procs", "")))
        departures: list[Departure] = []
        for raw in procs:
            proc = raw.decode()
            if proc == self._proc or await self._redis.exists(self._alive(proc)):
                continue
            # SREM decides which survivor reaps a dead process: only one sees 1.
            if await self._redis.srem(self._key("procs", ""), proc) != 1:
                continue
            departures.extend(await self._reap_process(proc))
        return departures

    async def live_processes(self) -> list[str]:
        """The processes whose liveness key is fresh (this one included once it beat)."""
        procs = [raw.decode() for raw in
                 await self._call(self._redis.smembers(self._key("procs", "")))]
        alive = await self._call(self._redis.exists(*map(self._alive, procs))) if procs else 0
        if alive == len(procs):
            return procs
        return [proc for proc in procs if await self._redis.exists(self._alive(proc))]

    async def forget_self(self) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.srem(self._key("procs", ""), self._proc)
            pipe.delete(self._alive(self._proc), self._key("conns", self._proc))
            await self._call(pipe.execute())

    async def sweep(self, live: Callable[[], set[tuple[str, str]]]) -> list[Departure]:
        members: set[bytes] = await self._call(self._redis.smembers(self._key("conns",
                                                                              self._proc)))
        # Read after the entries: a join records its room before its entry, so nothing added
        # since the read can be missing from `live`.
        keep = live()
        pairs = [member.decode().partition("\t") for member in members]
        found = await asyncio.gather(*(self._remove(room, sid, self._proc)
                                       for room, _, sid in pairs if (room, sid) not in keep))
        return [departure for departure in found if departure is not None]

    async def _reap_process(self, proc: str) -> list[Departure]:
        members: set[bytes] = await self._call(self._redis.smembers(self._key("conns", proc)))
        pairs = [member.decode().partition("\t") for member in members]
        found = await asyncio.gather(*(self._remove(room, sid, proc) for room, _, sid in pairs))
        await self._redis.delete(self._key("conns", proc))
        # A connection listed without an entry had its place taken by its user's return:
        # nothing to announce, but its meeting stay still ends with the process.
        return [Departure(room, sid, "", 0, taken=True) if departure is None else departure
                for (room, _, sid), departure in zip(pairs, found, strict=True)]

    async def _remove(self, room: str, sid: str, proc: str) -> Departure | None:
        answer: asyncio.Future[Departure | None] = asyncio.get_running_loop().create_future()
        self._removals.append((room, sid, proc, answer))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush(), name="roomcast-presence-removals")
        return await answer

    async def _flush(self) -> None:
        while self._removals:
            batch = self._removals[:REMOVE_BATCH]
            del self._removals[:REMOVE_BATCH]
            try:
                out = await self._remove_batch(batch)
            except Exception as exc:  # each waiting removal gets it (ServiceUnavailable)
                for *_, answer in batch:
                    if not answer.done():
                        answer.set_exception(exc)
                continue
            for i, (room, sid, _, answer) in enumerate(batch):
                left, user = int(out[2 * i]), out[2 * i + 1]
                if not answer.done():
                    answer.set_result(None if left < 0 else
                                      Departure(room, sid, user.decode(), left))

    async def _remove_batch(self, batch: list[_Removal]) -> Any:
        keys: list[Arg] = []
        args: list[Arg] = [len(batch)]
        for room, sid, proc, _ in batch:
            keys.extend(self._keys(room, proc))
            args.extend((f"{proc}/{sid}", f"{room}\t{sid}"))
        return await self._link.evalsha(_REMOVE_MANY, keys, args)

    def _keys(self, room: str, proc: str) -> list[Arg]:
        return [self._key("pres", room), self._key("presc", room), self._key("conns", proc)]

    def _key(self, kind: str, name: str) -> str:
        return f"{self._prefix}{kind}:{name}"

    def _alive(self, proc: str) -> str:
        return self._key("alive", proc)

    @staticmethod
    async def _call(awaitable: Awaitable[Any]) -> Any:
        try:
            return await awaitable
        except (RedisError, OSError) as exc:
            log.warning("presence: Redis failed: %r", exc)
            raise ServiceUnavailable("presence needs Redis, which cannot be reached") from exc
