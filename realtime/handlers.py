"""Client events: each takes a validated payload and returns its ack."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from pydantic import BaseModel

from core.errors import BadRequest, NotFound, PayloadTooLarge, Unauthorized
from core.revocations import TokenRevocations
from core.store.messages import NewMessage
from core.tokens import TokenService
from realtime import contract as c
from realtime.emitter import Emitter
from realtime.hub import Hub
from realtime.rooms import RoomAuthorizer, RoomGrant
from realtime.session import Entering, Session, active_user, still_active, verify_token
from realtime.streams import Recovery

Handler = Callable[[Session, Any], Awaitable[c.Ack]]

T = TypeVar("T")
U = TypeVar("U")


async def both(first: Awaitable[T], second: Awaitable[U]) -> tuple[T, U]:
    """Run two steps at once (the first as a task of its own) and wait for both to end, so
    neither is left running behind the caller; a failure is raised once both ended."""
    task = asyncio.ensure_future(first)
    try:
        two = await second
    except asyncio.CancelledError:
        task.cancel()
        raise
    except BaseException:
        await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # retrieved: the second step's failure is the one raised
        raise
    return await task, two


class NotJoined(BadRequest):
    code = c.ERR_NOT_JOINED
    default_message = "join the room first"


class EventHandlers:
    def __init__(self, hub: Hub, *, authorizer: RoomAuthorizer, emitter: Emitter,
                 tokens: TokenService, revocations: TokenRevocations,
                 reschedule: Callable[[Session], None]) -> None:
        self._hub = hub
        self._authorizer = authorizer
        self._emitter = emitter
        self._tokens = tokens
        self._revocations = revocations
        self._reschedule = reschedule
        # After a meeting message is stored, when its text holds an `@` (mentions): set by
        # the composition root; run off the ack's path.
        self.on_mention: Callable[[NewMessage], Coroutine[Any, Any, None]] | None = None
        self._mentions: set[asyncio.Task[None]] = set()

    def table(self) -> dict[str, tuple[type[BaseModel], Handler]]:
        return {
            c.JOIN: (c.JoinIn, self.join),
            c.LEAVE: (c.LeaveIn, self.leave),
            c.MESSAGE: (c.MessageIn, self.message),
            c.PRESENCE_SET: (c.PresenceSetIn, self.presence_set),
            c.TYPING: (c.TypingIn, self.typing),
            c.AUTH_REFRESH: (c.RefreshIn, self.refresh),
        }

    async def join(self, session: Session, data: c.JoinIn) -> c.JoinAck:
        # The account as the store has it now: one deactivated or deleted joins nothing, even
        # before the end of its sessions has reached this process (read again unless the
        # store proves that no account changed since connect's read).
        await still_active(self._hub.stores, session)
        if data.room == c.user_room(session.user_id):
            return await self._recover_user_room(session, data)
        # One join of a room at a time per socket, from before its membership check: a
        # repeated join sees the first one done, and a revocation sees every join in progress.
        while (busy := session.entering.get(data.room)) is not None:
            await busy.done.wait()
        entering = session.entering[data.room] = Entering()
        try:
            return await self._join(session, data, entering)
        finally:
            del session.entering[data.room]
            entering.done.set()

    async def _join(self, session: Session, data: c.JoinIn,
                    entering: Entering) -> c.JoinAck:
        grant = await self._authorizer.grant(data.room, session.user_id)
        hub = self._hub
        was_in = grant.room in session.rooms
        # Live frames wait while missed ones are queued, so the socket sees offsets in order.
        hub.fanout.hold(session.sid, grant.room)
        try:
            if not was_in:
                if data.status is not None:
                    session.status = data.status
                # In the room first, so nothing published after the history read is lost.
                await hub.enter_room(session, grant)
            # Presence and the history are read at once: one round trip's wait, not two.
            presence, recovery = await both(
                self._presence(session, grant, data.status, entered=not was_in,
                               previous=data.previous),
                self._recover(session, grant.room, data.since, data.epoch))
            if grant.project_id in entering.revoked:
                # The membership ended while this join was on its way (the revocation left
                # this room to it): the socket must not stay.
                await hub.revoke_room(session, grant.room, tell=was_in)
                raise NotFound("no such room")
        finally:
            hub.fanout.release(session.sid, grant.room,
                               discard=grant.room not in session.rooms)
        ack: c.JoinAck = {"ok": True, "room": grant.room, "offset": recovery.offset,
                          "epoch": recovery.epoch,
                          "presence": [entry.wire() for entry in presence]}
        if "state" in grant.extra:
            ack["state"] = grant.extra["state"]
        if data.since is not None:
            ack["recovered"] = recovery.recovered
            ack["replayed"] = len(recovery.frames)
        return ack

    async def _presence(self, session: Session, grant: RoomGrant, status: str | None, *,
                        entered: bool, previous: str | None = None) -> list[c.PresenceEntry]:
        """Record the entry of a socket that just entered; a socket already in the room is
        answered from where things stand: a repeated join announces nothing and counts nothing
        twice (a new status is a presence update)."""
        hub = self._hub
        if entered:
            return await hub.record_entry(session, grant, previous)
        if status is not None and status != session.status:
            await hub.update_status(session, grant.room, status)
        return await hub.presence.snapshot(grant.room)

    async def _recover(self, session: Session, room: str, since: int | None,
                       epoch: str | None) -> Recovery:
        """Queue what the socket missed since `since` (its room's live frames are held)."""
        hub = self._hub
        if since is None:
            position = await hub.streams.position(room)
            return Recovery(False, [], position.offset, position.epoch)
        recovery = await hub.streams.since(room, since, epoch)
        hub.metrics.recoveries.labels(str(recovery.recovered).lower()).inc()
        for frame in recovery.frames:
            hub.fanout.send_to(session.sid, frame)
        return recovery

    async def _recover_user_room(self, session: Session, data: c.JoinIn) -> c.JoinAck:
        """The socket is in its user room from connect on; a join there only recovers."""
        hub = self._hub
        if data.since is None:
            position = await hub.streams.position(data.room)
            return {"ok": True, "room": data.room, "presence": [], "offset": position.offset,
                    "epoch": position.epoch}
        hub.fanout.hold(session.sid, data.room)
        try:
            recovery = await self._recover(session, data.room, data.since, data.epoch)
        finally:
            hub.fanout.release(session.sid, data.room)
        return {"ok": True, "room": data.room, "offset": recovery.offset,
                "epoch": recovery.epoch, "presence": [],
                "recovered": recovery.recovered, "replayed": len(recovery.frames)}

    async def leave(self, session: Session, data: c.LeaveIn) -> c.LeaveAck:
        self._joined(session, data.room)
        await self._hub.exit_room(session, data.room)
        return {"ok": True, "room": data.room}

    async def message(self, session: Session, data: c.MessageIn) -> c.MessageAck:
        grant = self._joined(session, data.room)
        if grant.kind != "meeting":
            raise BadRequest("messages are sent in meeting rooms")
        limit = self._hub.settings.meeting_message_max_chars
        if len(data.text) > limit:
            raise PayloadTooLarge(f"a message holds at most {limit} characters")
        message = NewMessage(meeting_id=grant.room_id, project_id=grant.project_id,
                             user_id=session.user_id, user_name=session.name, text=data.text,
                             client_id=data.client_id)
        message.offset = await self._emitter.emit(grant.room, c.MEETING_MESSAGE, message.wire())
        await self._hub.stores.messages.create(message)
        if self.on_mention is not None and "@" in message.text:
            task = asyncio.create_task(self.on_mention(message))
            self._mentions.add(task)
            task.add_done_callback(self._mentions.discard)
        return {"ok": True, "room": grant.room, "offset": message.offset, "id": message.id}

    async def presence_set(self, session: Session, data: c.PresenceSetIn) -> c.PresenceSetAck:
        self._joined(session, data.room)
        entry = await self._hub.update_status(session, data.room, data.status)
        return {"ok": True, "room": data.room, "user": entry.wire()}

    async def typing(self, session: Session, data: c.TypingIn) -> c.TypingAck:
        self._joined(session, data.room)
        payload: c.PresenceTypingOut = {"room": data.room, "user_id": session.user_id,
                                        "typing": data.typing}
        await self._hub.broadcast_volatile(data.room, c.PRESENCE_TYPING, payload,
                                           skip_sid=session.sid)
        return {"ok": True}

    async def refresh(self, session: Session, data: c.RefreshIn) -> c.RefreshAck:
        claims = await verify_token(self._tokens, self._revocations, data.token)
        if claims.sub != session.user_id:
            raise Unauthorized("the token belongs to another user")
        await active_user(self._hub.stores, session.user_id)
        session.jti, session.exp = claims.jti, claims.exp
        self._reschedule(session)
        return {"ok": True, "exp": claims.exp}

    def _joined(self, session: Session, room: str) -> Any:
        grant = session.rooms.get(room)
        if grant is None:
            if c.parse_room(room) is None:
                raise NotFound("no such room")
            raise NotJoined()
        return grant
