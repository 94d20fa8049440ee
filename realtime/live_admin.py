"""Admins' view of the live side, across serving processes, over what realtime already has.

Nothing new travels between processes but three control messages on the room bus's control
channel (the one revocations use): `census` (each process writes its sockets into a Redis hash
named in the message; the asking process reads it once every live process of presence has
answered, or after `CENSUS_WAIT` seconds), `disconnect_user` and `announce`. On the embedded
default the control channel is this process's own handler.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from redis.asyncio import Redis

from core.ids import new_id, utcnow
from core.live import AnnouncementLevel, Census, LiveSocket, ProcessCensus
from realtime.contract import REASON_ADMIN_DISCONNECT, SERVER_ANNOUNCEMENT, user_room
from realtime.emitter import KEY_PREFIX, Control
from realtime.hub import Hub
from realtime.presence import RedisPresenceStore
from realtime.streams import volatile_frame

log = logging.getLogger("roomcast.realtime")

CONTROL_CENSUS = "census"
CONTROL_DISCONNECT_USER = "disconnect_user"
CONTROL_ANNOUNCE = "announce"
CENSUS_WAIT = 1.5  # seconds the asking process waits for every process's answer
CENSUS_TTL = 30  # seconds an answer stays in Redis if nobody reads it
POLL = 0.05


class LiveAdmin:
    def __init__(self, hub: Hub, *, process_id: str, control: Control,
                 redis: Redis | None) -> None:
        self._hub = hub
        self._process_id = process_id
        self._control = control
        self._redis = redis
        self._local_answers: dict[str, ProcessCensus] = {}

    # What the REST side calls.

    async def census(self) -> Census:
        reply = f"{KEY_PREFIX}census:{new_id()}"
        if self._redis is None:
            return Census(processes=[self.local_census()], complete=True)
        presence = self._hub.presence
        expected = (set(await presence.live_processes())
                    if isinstance(presence, RedisPresenceStore) else set())
        expected.add(self._process_id)
        await self._control({"op": CONTROL_CENSUS, "reply": reply})
        answers = await self._collect(self._redis, reply, expected)
        processes = [ProcessCensus.model_validate_json(raw) for raw in answers.values()]
        processes.sort(key=lambda p: p.process_id)
        return Census(processes=processes, complete=expected <= set(answers))

    async def disconnect_user(self, user_id: str) -> None:
        await self._control({"op": CONTROL_DISCONNECT_USER, "user_id": user_id})

    async def announce(self, message: str, level: AnnouncementLevel) -> None:
        await self._control({"op": CONTROL_ANNOUNCE, "message": message, "level": level,
                             "at": utcnow().isoformat()})

    # What every process does when the control message reaches it.

    async def on_control(self, message: dict[str, Any]) -> bool:
        """Handle an admin control message; False if it is not one."""
        op = message.get("op")
        if op == CONTROL_CENSUS and self._redis is not None:
            data = self.local_census().model_dump_json()
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hset(str(message["reply"]), self._process_id, data)
                pipe.expire(str(message["reply"]), CENSUS_TTL)
                await pipe.execute()
        elif op == CONTROL_DISCONNECT_USER:
            self._disconnect_local(str(message["user_id"]))
        elif op == CONTROL_ANNOUNCE:
            self._announce_local({"message": message["message"], "level": message["level"],
                                  "at": message["at"]})
        else:
            return False
        return True

    def local_census(self) -> ProcessCensus:
        now = time.monotonic()
        sockets = [
            LiveSocket(sid=session.sid, user_id=session.user_id, client=session.client,
                       connected_seconds=round(now - session.connected_at, 3),
                       rooms=[user_room(session.user_id), *sorted(session.rooms)])
            for session in list(self._hub.sessions.values()) if not session.closing
        ]
        return ProcessCensus(process_id=self._process_id, sockets=sockets)

    def _disconnect_local(self, user_id: str) -> None:
        for session in list(self._hub.sessions.values()):
            if session.user_id == user_id:
                log.info("disconnecting socket %s of user %s at an admin's request",
                         session.sid, user_id)
                self._hub.spawn(self._hub.end_session(
                    session.sid, REASON_ADMIN_DISCONNECT, "disconnected by an administrator"))

    def _announce_local(self, payload: dict[str, Any]) -> None:
        frame = volatile_frame(SERVER_ANNOUNCEMENT, payload)  # encoded once for every socket
        for sid in list(self._hub.sessions):
            self._hub.fanout.send_to(sid, frame)

    @staticmethod
    async def _collect(redis: Redis, reply: str, expected: set[str]) -> dict[str, bytes]:
        deadline = time.monotonic() + CENSUS_WAIT
        while True:
            raw: Any = await redis.hgetall(reply)
            answers = {_text(key): value for key, value in raw.items()}
            if expected <= set(answers) or time.monotonic() >= deadline:
                break
            await asyncio.sleep(POLL)
        await redis.delete(reply)
        return answers


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


