"""Publishing into rooms from any process: REST handlers, workers, the socket server itself.

`StreamEmitter` appends every event to the room's stream (so it is recoverable) and delivers
it; with Redis the append also publishes to every process. A worker, which has no socket
server, builds one with `RedisEmitter(redis, stores, settings)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson
from redis.asyncio import Redis

from core.settings import Settings
from core.store.stores import Stores
from realtime.batcher import RedisBatcher
from realtime.contract import NOTIFICATION, user_room
from realtime.streams import RedisRoomStreams, RoomStreams

KEY_PREFIX = "roomcast:rt:"
CONTROL_REVOKE = "revoke"

Deliver = Callable[[str, str], object]
Control = Callable[[dict[str, Any]], Awaitable[None]]


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


class StreamEmitter:
    """The emitter over a room stream; `deliver` is set when delivery is local (no Redis)."""

    def __init__(self, streams: RoomStreams, stores: Stores, *, control: Control,
                 deliver: Deliver | None = None) -> None:
        self._streams = streams
        self._stores = stores
        self._control = control
        self._deliver = deliver

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
        await self._control({"op": CONTROL_REVOKE, "user_id": user_id, "project_id": project_id})


def redis_control(batcher: RedisBatcher) -> Control:
    async def control(message: dict[str, Any]) -> None:
        data = orjson.dumps(message)
        await batcher.run(lambda pipe: pipe.publish(f"{KEY_PREFIX}control", data))

    return control


class RedisEmitter(StreamEmitter):
    """A write-only emitter for processes without a socket server (workers)."""

    def __init__(self, redis: Redis, stores: Stores, settings: Settings) -> None:
        self.batcher = RedisBatcher(redis)
        streams = RedisRoomStreams(redis, self.batcher, max_len=settings.stream_max_len,
                                   max_age=settings.stream_max_age_seconds, prefix=KEY_PREFIX)
        super().__init__(streams, stores, control=redis_control(self.batcher))

    async def close(self) -> None:
        await self.batcher.close()
