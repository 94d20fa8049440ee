"""Delivering frames to sockets: locally, and across processes through Redis pub/sub.

A frame is a Socket.IO packet already encoded once. Local delivery frames it once for
WebSocket and writes those bytes to each participant's transport when that is safe
(realtime/wire/engineio_driver.py); otherwise it puts one shared Engine.IO packet object on
the participant's outbound queue (no task and no encoding per recipient).
Across processes, each room has its own channel and a process subscribes to it only while it
has a member in the room, so it never handles traffic for rooms it does not serve.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import orjson
import socketio
from redis.asyncio import Redis

from core.errors import ServiceUnavailable
from realtime.batcher import RedisBatcher
from realtime.redislink import RedisAddress, RedisLink, RedisSubscriber
from realtime.streams import Position, position_in, room_channel
from realtime.wire.engineio_driver import DirectWrites
from realtime.wire.engineio_socket import (
    Packet,
    backlog,
    engine_socket,
    engine_sockets,
    enqueue,
    message_packet,
)
from realtime.wire.frames import text_frame
from realtime.wire.socketio_server import engine_sid, room_members

log = logging.getLogger("roomcast.realtime")

RETRY_FIRST, RETRY_MAX = 0.5, 5.0  # seconds between attempts to resubscribe, doubling
ControlHandler = Callable[[dict[str, Any]], Awaitable[None]]


class LocalFanout:
    """Puts frames on local sockets' queues; a socket whose queue is full is a slow client."""

    def __init__(self, sio: socketio.AsyncServer, *, queue_limit: int,
                 on_slow: Callable[[str], None],
                 on_sent: Callable[[int, float], None],
                 direct: DirectWrites | None = None,
                 on_direct: Callable[[int], None] | None = None) -> None:
        self._sio = sio
        self._direct = direct
        self._on_direct = on_direct
        self._direct_count = 0
        self._limit = queue_limit
        self._on_slow = on_slow
        self._on_sent = on_sent
        # room -> sid -> live frames held while that socket's join of that room replays what it
        # missed; per room, so one room's join never releases another room's frames early.
        self._held: dict[str, dict[str, list[Packet]]] = {}
        self._holds: dict[tuple[str, str], int] = {}  # joins in progress per (room, sid)
        self._holding: dict[str, set[str]] = {}  # sid -> rooms it holds: `forget` reads it

    def deliver(self, room: str, frame: str, skip_sid: str | None = None) -> int:
        participants = room_members(self._sio, room)
        if not participants:
            return 0
        started = time.perf_counter()
        held = self._held.get(room)
        if held is None and self._direct is not None:
            sent = self._deliver_direct(self._direct, participants, frame, skip_sid)
        else:
            pkt = message_packet(frame)
            data = text_frame(frame) if self._direct is not None else None
            sent = 0
            for sid, eio_sid in list(participants.items()):
                if sid != skip_sid and self._put(sid, eio_sid, pkt, held=held, data=data):
                    sent += 1
        self._on_sent(sent, time.perf_counter() - started)
        if self._direct_count and self._on_direct is not None:
            self._on_direct(self._direct_count)
        self._direct_count = 0
        return sent

    def _deliver_direct(self, direct: DirectWrites, participants: dict[str, str], frame: str,
                        skip_sid: str | None) -> int:
        """The common case, once per recipient and so kept short: nobody in the room is
        replaying, and each socket takes the prepared frame unless something waits before it
        (then the Engine.IO packet, made once, goes on its queue)."""
        data = text_frame(frame)
        sockets = engine_sockets(self._sio)
        write = direct.write
        pkt: Packet | None = None
        sent = written = 0
        for sid, eio_sid in list(participants.items()):
            if sid == skip_sid:
                continue
            socket = sockets.get(eio_sid)
            if socket is None or socket.closed:
                continue
            if write(socket, data):
                written += 1
                continue
            if pkt is None:
                pkt = message_packet(frame)
            if self._enqueue(sid, socket, pkt):
                sent += 1
        self._direct_count += written
        return sent + written

    def send_to(self, sid: str, frame: str) -> bool:
        eio_sid = engine_sid(self._sio, sid)
        if eio_sid is None:
            return False
        return self._put(sid, eio_sid, message_packet(frame))

    def hold(self, sid: str, room: str) -> None:
        """Buffer the room's live frames for the socket while its missed events are replayed.

        Holds are counted: the frames go out when the last join of that room in progress
        releases, so a replay always comes before the live frames of its room.
        """
        key = (room, sid)
        self._holds[key] = self._holds.get(key, 0) + 1
        self._holding.setdefault(sid, set()).add(room)
        self._held.setdefault(room, {}).setdefault(sid, [])

    def release(self, sid: str, room: str, *, discard: bool = False) -> None:
        """End one hold; `discard` drops what was held (the join did not happen)."""
        key = (room, sid)
        count = self._holds.pop(key, 0) - 1
        if count > 0:
            self._holds[key] = count
            return
        self._unhold(sid, room)
        waiting = self._held.get(room)
        frames = waiting.pop(sid, []) if waiting is not None else []
        if waiting is not None and not waiting:
            del self._held[room]
        eio_sid = engine_sid(self._sio, sid)
        if discard or eio_sid is None:
            return
        for pkt in frames:
            self._put(sid, eio_sid, pkt)

    def _unhold(self, sid: str, room: str) -> None:
        rooms = self._holding.get(sid)
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self._holding[sid]

    def forget(self, sid: str) -> None:
        # From the socket's own holds: a scan of every hold made each disconnect cost as
        # much as the joins in progress on the whole server.
        for room in self._holding.pop(sid, ()):
            self._holds.pop((room, sid), None)
            waiting = self._held.get(room)
            if waiting is not None:
                waiting.pop(sid, None)
                if not waiting:
                    del self._held[room]

    def _put(self, sid: str, eio_sid: str, pkt: Packet, *,
             held: dict[str, list[Packet]] | None = None,
             data: bytes | None = None) -> bool:
        if held is not None and sid in held:
            held[sid].append(pkt)
            return True
        socket = engine_socket(self._sio, eio_sid)
        if socket is None or socket.closed:
            return False
        if data is not None and self._direct is not None and self._direct.write(socket, data):
            self._direct_count += 1
            return True
        return self._enqueue(sid, socket, pkt)

    def _enqueue(self, sid: str, socket: Any, pkt: Packet) -> bool:
        if backlog(socket) >= self._limit:
            self._on_slow(sid)
            return False
        enqueue(socket, pkt)
        return True


class RoomBus(Protocol):
    """Where frames and control messages travel between processes."""

    @property
    def available(self) -> bool:
        """Whether frames from other processes reach this one now (Redis is subscribed)."""
        ...

    async def publish(self, room: str, frame: str, skip_sid: str | None = None) -> None: ...

    async def watch(self, room: str) -> None: ...

    def unwatch_if_idle(self, room: str) -> None: ...

    async def control(self, message: dict[str, Any]) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class MemoryRoomBus:
    """One process: publishing is local delivery."""

    available = True

    def __init__(self, fanout: LocalFanout, on_control: ControlHandler) -> None:
        self._fanout = fanout
        self._on_control = on_control

    async def publish(self, room: str, frame: str, skip_sid: str | None = None) -> None:
        self._fanout.deliver(room, frame, skip_sid)

    async def watch(self, room: str) -> None:
        return None

    def unwatch_if_idle(self, room: str) -> None:
        return None

    async def control(self, message: dict[str, Any]) -> None:
        await self._on_control(message)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class RedisRoomBus:
    """Per-room channels on Redis over Roomcast's own connections (realtime/redislink.py):
    one subscriber, and the pipelined command link for publishing.

    With Redis unreachable (at start or later) the process serves on: `available` is False,
    so sockets are refused, and the subscriber keeps trying in the background.
    """

    def __init__(self, redis: Redis, batcher: RedisBatcher, fanout: LocalFanout,
                 sio: socketio.AsyncServer, *, link: RedisLink, prefix: str,
                 on_control: ControlHandler, latest: Callable[[str], Awaitable[Position]]) -> None:
        self._batcher = batcher
        self._fanout = fanout
        self._sio = sio
        self._link = link
        self._prefix = prefix
        self._room_at = len(prefix) + 2  # channels are `{prefix}r:{room}`
        self._on_control = on_control
        self._control_channel = f"{prefix}control"
        # The control channel last: its confirmation means every room's came before it.
        self._subscriber = RedisSubscriber(
            RedisAddress.of(redis), on_message=self._handle, on_subscribed=self._subscribed,
            on_lost=self._lost, last=self._control_channel, pause=(RETRY_FIRST, RETRY_MAX))
        self._confirmed: dict[str, asyncio.Event] = {}
        self._pending: dict[str, int] = {}  # watch() calls waiting for a confirmation
        self._available = False  # the control channel is subscribed on a live connection
        self._was_available = False
        # Called once the subscriptions are back after a loss, with `caught_up()`: what was
        # published meanwhile (a revocation, a room's events) never reached this process.
        self.on_resubscribed: Callable[[dict[str, Position]], Coroutine[Any, Any, None]] | None = (
            None)
        # The room's latest offset and epoch, read once a new subscription is confirmed.
        self._latest = latest
        # Per room: the highest offset (and its epoch) whose event this process has delivered
        # to its sockets (or that the room had when this process subscribed).
        self._last: dict[str, Position] = {}
        # Hold references so background work isn't garbage-collected mid-run.
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def available(self) -> bool:
        return self._available

    async def publish(self, room: str, frame: str, skip_sid: str | None = None) -> None:
        await self._link.call("PUBLISH", room_channel(self._prefix, room),
                              f"{skip_sid or ''}|{frame}")

    async def watch(self, room: str) -> None:
        """Subscribe to the room's channel and wait until Redis has confirmed it.

        Already subscribed, it returns without yielding, so the caller enters the local room
        before any unsubscribe check can run.
        """
        if not self._available:
            raise ServiceUnavailable("Redis cannot be reached")
        channel = room_channel(self._prefix, room)
        event = self._confirmed.get(channel)
        if event is not None and event.is_set():
            return
        self._pending[channel] = self._pending.get(channel, 0) + 1
        try:
            if event is None:
                event = self._confirmed[channel] = asyncio.Event()
                self._subscriber.subscribe(channel)
            await asyncio.wait_for(event.wait(), timeout=10)
        finally:
            self._pending[channel] -= 1
            if not self._pending[channel]:
                del self._pending[channel]

    def unwatch_if_idle(self, room: str) -> None:
        # Decided a moment later: Socket.IO removes a disconnecting socket from its rooms
        # only after the disconnect handler, and a join may be on its way in.
        asyncio.get_running_loop().call_later(1.0, self._unwatch, room)

    def _unwatch(self, room: str) -> None:
        channel = room_channel(self._prefix, room)
        if channel not in self._confirmed or channel in self._pending:
            return
        if room_members(self._sio, room):
            return
        del self._confirmed[channel]
        self._last.pop(room, None)
        self._subscriber.unsubscribe(channel)

    async def control(self, message: dict[str, Any]) -> None:
        data = orjson.dumps(message)
        await self._batcher.run(lambda pipe: pipe.publish(self._control_channel, data))

    async def start(self) -> None:
        """Subscribe, or, with Redis unreachable, serve on and keep trying in the background
        (sockets are refused meanwhile, see `available`)."""
        confirmed = self._confirmed[self._control_channel] = asyncio.Event()
        self._subscriber.subscribe(self._control_channel)
        self._subscriber.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(confirmed.wait(), timeout=RETRY_MAX)
        if not self._available:
            log.warning("Redis cannot be reached: sockets are refused until it is back")

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self._subscriber.stop()
        await self._link.close()

    def _lost(self, why: str) -> None:
        if self._available:
            log.warning("pub/sub connection lost (%s): sockets are refused until Redis is "
                        "back", why)
        self._available = False

    def caught_up(self) -> dict[str, Position]:
        """Per watched room, the offset its local sockets have had everything up to."""
        return dict(self._last)

    def _subscribed(self, channel: bytes) -> None:
        name = channel.decode()
        event = self._confirmed.get(name)
        control = name == self._control_channel
        if event is not None:
            if not control and not event.is_set():  # a room's first confirmation
                self._spawn(self._baseline(name[self._room_at:]))
            event.set()
        if not control:
            return
        self._available = True
        if not self._was_available:
            self._was_available = True
            return
        log.warning("pub/sub is back: %d channels subscribed", len(self._confirmed))
        if self.on_resubscribed is not None:
            # In a task of its own: messages keep arriving while the store is asked.
            self._spawn(self.on_resubscribed(self.caught_up()))

    async def _baseline(self, room: str) -> None:
        self._advance(room, await self._latest(room))

    def _advance(self, room: str, position: Position) -> None:
        last = self._last.get(room)
        if last is None or last.epoch != position.epoch or position.offset > last.offset:
            self._last[room] = position

    def _handle(self, channel: bytes, data: bytes) -> None:
        name = channel.decode()
        if name == self._control_channel:
            self._spawn(self._on_control(orjson.loads(data)))
            return
        skip, _, frame = data.decode().partition("|")
        room = name[self._room_at:]
        position = position_in(frame, room)
        if position is not None:
            self._advance(room, position)
        self._fanout.deliver(room, frame, skip or None)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("pub/sub background work failed: %r", task.exception())
