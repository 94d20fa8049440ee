"""The Socket.IO side: built once by the composition root."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import socketio
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.errors import RoomcastError
from core.ids import new_id
from core.revocations import TokenRevocations
from core.settings import Settings, polling_enabled
from core.store.stores import Stores
from core.tokens import TokenService
from realtime import fastjson
from realtime.batcher import RedisBatcher
from realtime.connections import Connections
from realtime.emitter import KEY_PREFIX, Emitter, Outbox, StreamEmitter, redis_control
from realtime.fanout import LocalFanout, MemoryRoomBus, RedisRoomBus, RoomBus
from realtime.handlers import EventHandlers
from realtime.hub import Hub
from realtime.inbound import InboundEvents
from realtime.linked_revocations import linked
from realtime.live_admin import LiveAdmin
from realtime.metrics import RealtimeMetrics
from realtime.presence import (
    SAVED_PRESENCE_FILE,
    MemoryPresenceStore,
    PresenceStore,
    RedisPresenceStore,
)
from realtime.redislink import RedisAddress, RedisLink
from realtime.rooms import RoomAuthorizer
from realtime.streams import (
    SAVED_ROOMS_FILE,
    MemoryRoomStreams,
    RedisRoomStreams,
    RoomStreams,
)
from realtime.wire import engineio_socket
from realtime.wire.engineio_driver import DirectWrites
from realtime.wire.socketio_manager import IndexedManager
from realtime.wire.socketio_server import DirectServer, room_names

log = logging.getLogger("roomcast.realtime")


@dataclass
class Realtime:
    sio: socketio.AsyncServer
    emitter: Emitter
    startup: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    hub: Hub | None = None
    # Called before the web server stops accepting: tells clients to reconnect elsewhere.
    drain: Callable[[], Awaitable[None]] | None = None
    # Where REST publishes that failed wait to be retried (realtime.emitter.Outbox).
    outbox: Outbox | None = None
    # Counts a connection closed for a frame over SOCKET_MAX_PAYLOAD_BYTES (the transport's).
    on_frame_too_large: Callable[[], None] | None = None
    # Counts a long-polling request answered polling_disabled (realtime/polling.py).
    on_polling_refused: Callable[[], None] | None = None
    # The client events' handlers (the composition root sets their mention hook).
    handlers: EventHandlers | None = None
    # Admins' census, disconnects and announcements across processes.
    live: LiveAdmin | None = None


def build_realtime(
    settings: Settings, *, stores: Stores, tokens: TokenService,
    revocations: TokenRevocations, redis: Redis | None,
    metrics_registry: CollectorRegistry | None = None,
) -> Realtime:
    """The Socket.IO side, composed: the server on the fenced wire, the room state (Redis or
    in memory), the per-socket layer, client events, and the order they start and stop in."""
    metrics = RealtimeMetrics.register(metrics_registry or CollectorRegistry())
    sio = _socket_server(settings, metrics)
    late = _LateBound()  # Connections, which needs the hub the fan-out belongs to
    fanout = LocalFanout(sio, queue_limit=settings.socket_outbound_queue,
                         on_slow=late.drop_slow, on_sent=metrics.record_sent,
                         direct=sio.direct, on_direct=metrics.direct_writes.inc)
    process_id = new_id()[:12]
    rooms = _room_state(settings, redis, stores=stores, sio=sio, fanout=fanout,
                        metrics=metrics, on_control=late.on_control, process_id=process_id)
    hub = Hub(settings, sio, stores=stores, bus=rooms.bus, streams=rooms.streams,
              presence=rooms.presence, fanout=fanout, metrics=metrics)
    revocations = linked(revocations, rooms.link)  # a connect's check over the link
    connections = late.connections = Connections(hub, tokens=tokens, revocations=revocations)
    late.live = live = LiveAdmin(hub, process_id=process_id, redis=redis, control=(
        redis_control(rooms.batcher) if rooms.batcher is not None else late.on_control))
    handlers = EventHandlers(hub, authorizer=RoomAuthorizer(stores), emitter=rooms.emitter,
                             tokens=tokens, revocations=revocations,
                             reschedule=connections.schedule_expiry)
    inbound = _client_events(sio, settings, rooms.bus, connections, handlers)
    life = _Lifecycle(settings, hub, connections, inbound, rooms)
    return Realtime(sio=sio, emitter=rooms.emitter, startup=[life.start],
                    shutdown=[life.stop], hub=hub, drain=life.drain, outbox=rooms.outbox,
                    on_frame_too_large=metrics.oversized_frames.inc,
                    on_polling_refused=metrics.polling_refused.inc, handlers=handlers,
                    live=live)


def _socket_server(settings: Settings, metrics: RealtimeMetrics) -> DirectServer:
    """python-socketio's server with the fenced fast path installed (realtime/wire/)."""
    sio = DirectServer(
        async_mode="asgi",
        client_manager=IndexedManager(),  # a disconnect finds its socket's rooms in an index
        cors_allowed_origins=settings.cors_origins or [],
        transports=["polling", "websocket"] if polling_enabled(settings) else ["websocket"],
        json=fastjson,
        max_http_buffer_size=settings.socket_max_payload_bytes,
        ping_interval=settings.socket_ping_interval,
        ping_timeout=settings.socket_ping_timeout,
        http_compression=settings.socket_compression,
        logger=False, engineio_logger=False,
    )
    engineio_socket.install(sio, connect_timeout=settings.socket_connect_timeout)
    direct = DirectWrites()
    direct.install(sio)
    sio.direct, sio.on_direct = direct, metrics.direct_writes.inc
    # Counted when scraped: Socket.IO also keeps a room per socket, which these names skip.
    metrics.rooms.set_function(lambda: sum(1 for room in room_names(sio) if ":" in str(room)))
    return sio


class _LateBound:
    """The per-socket layer and the admins' live views, for the fan-out and the room bus made
    before them."""

    connections: Connections | None = None
    live: LiveAdmin | None = None

    def drop_slow(self, sid: str) -> None:
        if self.connections is not None:
            self.connections.drop_slow(sid)

    async def on_control(self, message: dict[str, Any]) -> None:
        if self.live is not None and await self.live.on_control(message):
            return
        if self.connections is not None:
            await self.connections.on_control(message)


@dataclass
class _RoomState:
    """Where rooms' events, history and presence live: Redis, or this process's memory."""

    bus: RoomBus
    streams: RoomStreams
    presence: PresenceStore
    emitter: StreamEmitter
    outbox: Outbox
    batcher: RedisBatcher | None = None
    link: RedisLink | None = None


def _room_state(settings: Settings, redis: Redis | None, *, stores: Stores, sio: DirectServer,
                fanout: LocalFanout, metrics: RealtimeMetrics,
                on_control: Callable[[dict[str, Any]], Awaitable[None]],
                process_id: str) -> _RoomState:
    bus: RoomBus | None = None
    # Retried publishes wait for this process's own subscription, so its sockets get them too.
    outbox = Outbox(ready=lambda: bus is not None and bus.available,
                    on_pending=metrics.outbox_pending.set, on_lost=metrics.outbox_lost.inc)
    if redis is None:
        bus = MemoryRoomBus(fanout, on_control)
        streams: RoomStreams = MemoryRoomStreams(max_len=settings.stream_max_len,
                                                 max_age=settings.stream_max_age_seconds)
        emitter = StreamEmitter(streams, stores, control=on_control, deliver=fanout.deliver,
                                outbox=outbox)
        return _RoomState(bus, streams, MemoryPresenceStore(), emitter, outbox)
    batcher = RedisBatcher(redis)
    link = RedisLink(RedisAddress.of(redis))
    redis_streams = RedisRoomStreams(link=link, max_len=settings.stream_max_len,
                                     max_age=settings.stream_max_age_seconds, prefix=KEY_PREFIX)
    bus = RedisRoomBus(redis, batcher, fanout, sio, link=link, prefix=KEY_PREFIX,
                       on_control=on_control, latest=redis_streams.position)
    presence = RedisPresenceStore(redis, link=link, process_id=process_id,
                                  ttl=settings.presence_ttl_seconds, prefix=KEY_PREFIX)
    emitter = StreamEmitter(redis_streams, stores, control=redis_control(batcher),
                            outbox=outbox)
    return _RoomState(bus, redis_streams, presence, emitter, outbox, batcher, link)


def _client_events(sio: DirectServer, settings: Settings, bus: RoomBus,
                   connections: Connections, handlers: EventHandlers) -> InboundEvents:
    """Client packets read off the wire and dispatched to the handlers (realtime/inbound.py)."""
    connections.register(sio, handlers.table())
    if isinstance(bus, RedisRoomBus):
        bus.on_resubscribed = connections.resubscribed
    inbound = InboundEvents(sio, connections.dispatch, sio.send_text, settings=settings)
    inbound.on_abuse = connections.abuse
    engineio_socket.attach_inbound(sio, inbound)
    return inbound


class _Lifecycle:
    """Start, drain and stop, in order."""

    def __init__(self, settings: Settings, hub: Hub, connections: Connections,
                 inbound: InboundEvents, rooms: _RoomState) -> None:
        self._settings, self._hub, self._connections = settings, hub, connections
        self._inbound, self._rooms = inbound, rooms
        self._beat = _Heartbeat(hub, connections)

    async def start(self) -> None:
        saved = self._saved_dir()
        if saved is not None:
            rooms = self._rooms
            assert isinstance(rooms.streams, MemoryRoomStreams)
            assert isinstance(rooms.presence, MemoryPresenceStore)
            taken = rooms.streams.restore(saved / SAVED_ROOMS_FILE)
            if taken:
                log.info("took back the history of %d rooms saved by the last stop", taken)
            held = rooms.presence.restore(saved / SAVED_PRESENCE_FILE)
            if held:
                log.info("holding %d connections' presence saved by the last stop for %.0f s",
                         held, self._settings.presence_ttl_seconds)
        await self._rooms.bus.start()
        await self._beat.start()

    def _saved_dir(self) -> Path | None:
        """Where the embedded default keeps its rooms and presence between a stop and the next
        start: the data directory, whose store lock makes this process its one owner. None
        with Redis (rooms and presence live there) or MongoDB (the directory has no owner)."""
        settings = self._settings
        if not isinstance(self._rooms.streams, MemoryRoomStreams) or settings.mongo_uri:
            return None
        return settings.data_dir

    async def drain(self) -> None:
        # Events already being handled finish and send their acks (within the budget) before
        # any socket is disconnected; new ones are refused meanwhile (service_unavailable).
        budget = self._settings.socket_drain_seconds
        self._hub.stopping = self._inbound.stopping = True
        unfinished = await self._inbound.settle_all(budget)
        if unfinished:
            log.warning("%d events were still being handled after %.1f s: disconnecting "
                        "their sockets anyway", unfinished, budget)
        await self._connections.drain()

    async def stop(self) -> None:
        rooms = self._rooms
        await self.drain()
        await self._beat.stop()
        await rooms.outbox.close()
        await rooms.bus.stop()
        saved = self._saved_dir()
        if saved is not None:
            await self._save(saved)
        if rooms.batcher is not None:
            await rooms.batcher.close()
        if isinstance(rooms.presence, RedisPresenceStore):
            with contextlib.suppress(Exception):
                await rooms.presence.forget_self()

    async def _save(self, saved: Path) -> None:
        rooms = self._rooms
        assert isinstance(rooms.streams, MemoryRoomStreams)
        assert isinstance(rooms.presence, MemoryPresenceStore)
        path = saved / SAVED_ROOMS_FILE
        try:
            count = await asyncio.to_thread(rooms.streams.save, path)
        except OSError as exc:
            log.warning("the rooms' history could not be saved to %s (%s): the next start "
                        "begins every room in a new epoch", path, exc.strerror or exc)
        else:
            log.info("saved the history of %d rooms for the next start", count)
        path = saved / SAVED_PRESENCE_FILE
        try:
            count = await asyncio.to_thread(rooms.presence.save, path,
                                            self._settings.presence_ttl_seconds)
        except OSError as exc:
            log.warning("presence could not be saved to %s (%s): the next start begins with "
                        "nobody present", path, exc.strerror or exc)
        else:
            log.info("saved the presence of %d connections for the next start", count)


class _Heartbeat:
    """Keeps this process alive in presence, and removes dead processes' connections."""

    def __init__(self, hub: Hub, connections: Connections) -> None:
        self._hub = hub
        self._connections = connections
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            await self._hub.presence.heartbeat()
        except RoomcastError as exc:  # Redis is down: the loop keeps beating until it is back
            log.warning("presence heartbeat failed: %s", exc.message)
        self._task = asyncio.create_task(self._run(), name="roomcast-presence-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        # A quarter of the bound: liveness lasts half of it, so a dead process is noticed
        # at the latest three quarters of PRESENCE_TTL_SECONDS after its last beat.
        interval = self._hub.settings.presence_ttl_seconds / 4
        while True:
            await asyncio.sleep(interval)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except (RoomcastError, RedisError, OSError) as exc:  # Redis is down: said, not shouted
                log.warning("presence heartbeat failed: %r", exc)
            except Exception:
                log.exception("presence heartbeat failed")

    async def beat(self) -> None:
        if not await self._hub.presence.heartbeat():
            log.warning("this process had been taken for dead; restoring its presence")
            await self._hub.restore_presence()
        await self._hub.announce_departures(await self._hub.presence.reap())
        await self._hub.sweep_presence()
