"""Publishing into rooms from any process: REST handlers, workers, the socket server itself.

`StreamEmitter` appends every event to the room's stream (so it is recoverable) and delivers
it; with Redis the append also publishes to every process. A worker, which has no socket
server, builds one with `RedisEmitter(redis, stores, settings)`.

`emit` raises when Redis cannot be reached: the caller decides. Publishes whose change is
already stored and must not be lost (a revocation, a REST change's event) go through an
`Outbox`, which retries them in the background until Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson
from redis.asyncio import Redis

from core.errors import RoomcastError, ServiceUnavailable
from core.settings import Settings
from core.store.stores import Stores
from realtime.batcher import RedisBatcher
from realtime.contract import NOTIFICATION, user_room
from realtime.redislink import RedisAddress, RedisLink
from realtime.streams import Clock, RedisRoomStreams, RoomStreams

log = logging.getLogger("roomcast.realtime")

KEY_PREFIX = "roomcast:rt:"
CONTROL_REVOKE = "revoke"
CONTROL_END_USER = "end_user"  # end every socket of a user (deactivated, deleted)
OUTBOX_KEY = "outbox"  # where the composition root puts the server's Outbox in the app's extras
OUTBOX_LIMIT = 1000
RETRY_FIRST, RETRY_MAX = 0.2, 5.0  # seconds between attempts, doubling
CLOSE_WAIT = 2.0  # seconds the last try at shutdown may take

Deliver = Callable[[str, str], object]
Control = Callable[[dict[str, Any]], Awaitable[None]]
Publish = Callable[[], Awaitable[object]]
# Why a user's sessions end everywhere: the `session:ending` code (realtime/contract.py).
EndedBy = Literal["account_deactivated", "account_deleted"]


@dataclass(frozen=True)
class _Waiting:
    key: str
    what: str
    publish: Publish


class Outbox:
    """Publishes that failed, retried in the background with backoff, in order.

    Bounded: when `limit` publishes wait, a further one is lost (logged and counted). `ready`
    (optional) says when a retry is worth trying, so the server's own subscription is back
    before its retried events go out.
    """

    def __init__(self, *, limit: int = OUTBOX_LIMIT, ready: Callable[[], bool] | None = None,
                 on_pending: Callable[[int], None] | None = None,
                 on_lost: Callable[[], None] | None = None) -> None:
        self._limit = limit
        self._ready = ready
        self._on_pending = on_pending
        self._on_lost = on_lost
        self._waiting: deque[_Waiting] = deque()
        self._per_key: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        return len(self._waiting)

    async def send(self, key: str, what: str, publish: Publish) -> bool:
        """Publish now, or queue it behind what waits for the same `key` (a room), so a room's
        events keep their order. False when the outbox is full and the publish is lost."""
        if not self._per_key.get(key):
            try:
                await publish()
                return True
            except ServiceUnavailable as exc:
                log.warning("%s failed (%s): retrying in the background", what, exc.message)
            except RoomcastError as exc:  # refused for good: a retry would fail the same way
                self._lose(what, exc)
                return False
        return self._queue(_Waiting(key, what, publish))

    async def close(self) -> None:
        """One last try for what waits (Redis may be back), then say what is lost."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._flush(), CLOSE_WAIT)
        if self._waiting:
            log.error("%d publishes could not be retried before shutdown and are lost",
                      len(self._waiting))
            self._waiting.clear()
            self._per_key.clear()
            self._changed()

    def _queue(self, item: _Waiting) -> bool:
        if len(self._waiting) >= self._limit:
            log.error("%s is lost: %d publishes already wait for Redis", item.what, self._limit)
            if self._on_lost is not None:
                self._on_lost()
            return False
        self._waiting.append(item)
        self._per_key[item.key] = self._per_key.get(item.key, 0) + 1
        self._changed()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._retry(), name="roomcast-outbox")
        return True

    async def _retry(self) -> None:
        pause = RETRY_FIRST
        while self._waiting:
            await asyncio.sleep(pause)
            if self._ready is not None and not self._ready():
                continue
            pause = RETRY_FIRST if await self._flush() else min(pause * 2, RETRY_MAX)

    async def _flush(self) -> bool:
        """Publish what waits, oldest first, stopping at the first outage. A publish refused for
        good is dropped (logged and counted as lost), so it holds nothing up behind it."""
        while self._waiting:
            item = self._waiting[0]
            try:
                await item.publish()
            except ServiceUnavailable:
                return False
            except RoomcastError as exc:
                self._lose(item.what, exc)
            else:
                log.info("%s went out on a retry", item.what)
            self._waiting.popleft()
            self._per_key[item.key] -= 1
            if not self._per_key[item.key]:
                del self._per_key[item.key]
            self._changed()
        return True

    def _lose(self, what: str, exc: RoomcastError) -> None:
        log.error("%s is lost: %s (not an outage, so not retried)", what, exc.message)
        if self._on_lost is not None:
            self._on_lost()

    def _changed(self) -> None:
        if self._on_pending is not None:
            self._on_pending(len(self._waiting))


class Emitter(Protocol):
    async def emit(self, room: str, event: str, data: dict[str, Any]) -> int:
        """Append the event to the room's stream and deliver it; return its offset.

        Raises ServiceUnavailable if the event could not be published.
        """
        ...

    async def notify(
        self, user_id: str, *, kind: str, title: str, body: str = "",
        data: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Store a notification for the user and deliver it live to `user:{user_id}`."""
        ...

    async def membership_revoked(self, user_id: str, project_id: str) -> None:
        """Make every socket of the user, on every process, leave the project's rooms."""
        ...

    async def user_ended(self, user_id: str, code: EndedBy) -> None:
        """End every socket of the user on every process (`session:ending` with `code`)."""
        ...


class StreamEmitter:
    """The emitter over a room stream; `deliver` is set when delivery is local (no Redis)."""

    def __init__(self, streams: RoomStreams, stores: Stores, *, control: Control,
                 deliver: Deliver | None = None, outbox: Outbox | None = None) -> None:
        self._streams = streams
        self._stores = stores
        self._control = control
        self._deliver = deliver
        self.outbox = outbox if outbox is not None else Outbox()

    async def emit(self, room: str, event: str, data: dict[str, Any]) -> int:
        offset, frame = await self._streams.append(room, event, data)
        if self._deliver is not None:
            self._deliver(room, frame)
        return offset

    async def notify(
        self, user_id: str, *, kind: str, title: str, body: str = "",
        data: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        stored = await self._stores.notifications.create(
            user_id=user_id, kind=kind, title=title, body=body, data=data or {}
        )
        payload: dict[str, Any] = stored.model_dump(mode="json")
        await self.emit(user_room(user_id), NOTIFICATION, payload)
        return payload

    async def membership_revoked(self, user_id: str, project_id: str) -> None:
        # Retried until Redis takes it; a process whose subscription was down meanwhile checks
        # its sockets' memberships against the store when it resubscribes (connections.py).
        message = {"op": CONTROL_REVOKE, "user_id": user_id, "project_id": project_id}
        if not await self.outbox.send(CONTROL_REVOKE, f"revocation of {user_id} in {project_id}",
                                      lambda: self._control(message)):
            raise ServiceUnavailable("the revocation could not be published")

    async def user_ended(self, user_id: str, code: EndedBy) -> None:
        # The same path as a membership revocation: retried until Redis takes it, and a
        # process that was resubscribing meanwhile checks its users against the store.
        message = {"op": CONTROL_END_USER, "user_id": user_id, "code": code}
        if not await self.outbox.send(CONTROL_REVOKE, f"end of {user_id}'s sessions",
                                      lambda: self._control(message)):
            raise ServiceUnavailable("the end of the sessions could not be published")


def redis_control(batcher: RedisBatcher) -> Control:
    async def control(message: dict[str, Any]) -> None:
        data = orjson.dumps(message)
        await batcher.run(lambda pipe: pipe.publish(f"{KEY_PREFIX}control", data))

    return control


class RedisEmitter(StreamEmitter):
    """A write-only emitter for processes without a socket server (workers)."""

    def __init__(self, redis: Redis, stores: Stores, settings: Settings, *,
                 clock: Clock = time.time) -> None:
        self.batcher = RedisBatcher(redis)
        self.link = RedisLink(RedisAddress.of(redis))
        streams = RedisRoomStreams(link=self.link, max_len=settings.stream_max_len,
                                   max_age=settings.stream_max_age_seconds,
                                   prefix=KEY_PREFIX, clock=clock)
        super().__init__(streams, stores, control=redis_control(self.batcher))

    async def close(self) -> None:
        await self.outbox.close()
        await self.batcher.close()
        await self.link.close()
