"""The Socket.IO side: built once by the composition root."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import socketio
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.errors import RoomcastError
from core.ids import new_id
from core.revocations import TokenRevocations
from core.settings import Settings
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
from realtime.metrics import RealtimeMetrics
from realtime.presence import MemoryPresenceStore, PresenceStore, RedisPresenceStore
from realtime.redislink import RedisAddress, RedisLink
from realtime.rooms import RoomAuthorizer
from realtime.streams import MemoryRoomStreams, RedisRoomStreams, RoomStreams
from realtime.wire import engineio_socket
from realtime.wire.engineio_driver import DirectWrites
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
    # The client events' handlers (the composition root sets their mention hook).
    handlers: EventHandlers | None = None


def build_realtime(
    settings: Settings, *, stores: Stores, tokens: TokenService,
    revocations: TokenRevocations, redis: Redis | None,
    metrics_registry: CollectorRegistry | None = None,
) -> Realtime:
    sio = DirectServer(
        async_mode="asgi",
        cors_allowed_origins=settings.cors_origins or [],
        transports=["polling", "websocket"] if settings.socket_allow_polling else ["websocket"],
        json=fastjson,
        max_http_buffer_size=settings.socket_max_payload_bytes,
        ping_interval=settings.socket_ping_interval,
        ping_timeout=settings.socket_ping_timeout,
        http_compression=settings.socket_compression,
        logger=False, engineio_logger=False,
    )
    metrics = RealtimeMetrics.register(metrics_registry or CollectorRegistry())
    # Counted when scraped: Socket.IO also keeps a room per socket, which these names skip.
    metrics.rooms.set_function(
        lambda: sum(1 for room in room_names(sio) if ":" in str(room))
    )
    connections: Connections | None = None

    def on_slow(sid: str) -> None:
        if connections is not None:
            connections.drop_slow(sid)

    def on_sent(count: int, seconds: float) -> None:
        metrics.events_out.inc(count)
        metrics.fanout_seconds.observe(seconds)

    engineio_socket.install(sio, connect_timeout=settings.socket_connect_timeout)
    direct = DirectWrites()
    direct.install(sio)
    sio.direct, sio.on_direct = direct, metrics.direct_writes.inc
    fanout = LocalFanout(sio, queue_limit=settings.socket_outbound_queue, on_slow=on_slow,
                         on_sent=on_sent, direct=direct, on_direct=metrics.direct_writes.inc)

    async def on_control(message: dict[str, Any]) -> None:
        if connections is not None:
            await connections.on_control(message)

    bus: RoomBus
    streams: RoomStreams
    presence: PresenceStore
    batcher: RedisBatcher | None = None
    process_id = new_id()[:12]
    # Retried publishes wait for this process's own subscription, so its sockets get them too.
    outbox = Outbox(ready=lambda: bus.available, on_pending=metrics.outbox_pending.set,
                    on_lost=metrics.outbox_lost.inc)
    if redis is not None:
        batcher = RedisBatcher(redis)
        link = RedisLink(RedisAddress.of(redis))
        streams = RedisRoomStreams(redis, batcher, link=link, max_len=settings.stream_max_len,
                                   max_age=settings.stream_max_age_seconds, prefix=KEY_PREFIX)
        bus = RedisRoomBus(redis, batcher, fanout, sio, link=link, prefix=KEY_PREFIX,
                           on_control=on_control, latest=streams.position)
        presence = RedisPresenceStore(redis, batcher, process_id=process_id,
                                      ttl=settings.presence_ttl_seconds, prefix=KEY_PREFIX)
        emitter = StreamEmitter(streams, stores, control=redis_control(batcher), outbox=outbox)
    else:
        bus = MemoryRoomBus(fanout, on_control)
        streams = MemoryRoomStreams(max_len=settings.stream_max_len,
                                    max_age=settings.stream_max_age_seconds)
        presence = MemoryPresenceStore()
        emitter = StreamEmitter(streams, stores, control=on_control, deliver=fanout.deliver,
                                outbox=outbox)

    hub = Hub(settings, sio, stores=stores, bus=bus, streams=streams, presence=presence,
              fanout=fanout, metrics=metrics)
    connections = Connections(hub, tokens=tokens, revocations=revocations)
    handlers = EventHandlers(hub, authorizer=RoomAuthorizer(stores), emitter=emitter,
                             tokens=tokens, revocations=revocations,
                             reschedule=connections.schedule_expiry)
    connections.register(sio, handlers.table())
    if isinstance(bus, RedisRoomBus):
        bus.on_resubscribed = connections.resubscribed
    inbound = InboundEvents(sio, connections.dispatch, sio.send_text, settings=settings)
    inbound.on_abuse = connections.abuse
    sio.eio.inbound = inbound
    beat = _Heartbeat(hub, connections)

    async def start() -> None:
        await bus.start()
        await beat.start()

    async def drain() -> None:
        # Events already being handled finish and send their acks (within the budget) before
        # any socket is disconnected; new ones are refused meanwhile (service_unavailable).
        hub.stopping = inbound.stopping = True
        unfinished = await inbound.settle_all(settings.socket_drain_seconds)
        if unfinished:
            log.warning("%d events were still being handled after %.1f s: disconnecting "
                        "their sockets anyway", unfinished, settings.socket_drain_seconds)
        await connections.drain()

    async def stop() -> None:
        await drain()
        await beat.stop()
        await outbox.close()
        await bus.stop()
        if batcher is not None:
            await batcher.close()
        if isinstance(presence, RedisPresenceStore):
            with contextlib.suppress(Exception):
                await presence.forget_self()

    return Realtime(sio=sio, emitter=emitter, startup=[start], shutdown=[stop], hub=hub,
                    drain=drain, outbox=outbox,
                    on_frame_too_large=metrics.oversized_frames.inc, handlers=handlers)


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
        for departure in await self._hub.presence.reap():
            await self._hub.announce_departure(departure)
        await self._hub.sweep_presence()
