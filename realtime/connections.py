"""Connect, disconnect, the event dispatcher and process-wide control messages.

The dispatcher is the socket edge: it applies the rate limit, validates the payload, and turns
every outcome (a RoomcastError, an unknown event, a bug) into an ack, never a silent drop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import socketio
from pydantic import BaseModel, ValidationError

from core.errors import RoomcastError, ServiceUnavailable
from core.ids import utcnow
from core.revocations import TokenRevocations
from core.tokens import TokenService
from realtime import contract as c
from realtime.emitter import CONTROL_END_USER, CONTROL_REVOKE
from realtime.handlers import Handler
from realtime.hub import Hub
from realtime.limits import EventBucket
from realtime.packets import CLOSE_POLICY
from realtime.session import (
    STORE_ERRORS,
    Session,
    active_user,
    auth_token,
    refuse,
    store_unavailable,
    verify_token,
)
from realtime.streams import Position, volatile_frame
from realtime.wire.engineio_socket import (
    close_socket,
    drop_unsent,
    engine_socket,
    enqueue,
    message_packet,
    takes_writes,
)
from realtime.wire.socketio_server import engine_sid, participants

log = logging.getLogger("roomcast.realtime")
access_log = logging.getLogger("roomcast.access")
# Seconds a stopping process waits for what its sockets' departures started (Connections.drain):
# a Redis round trip each, all at once.
SPAWNED_BUDGET = 1.0


class Connections:
    def __init__(self, hub: Hub, *, tokens: TokenService,
                 revocations: TokenRevocations) -> None:
        self._hub = hub
        self._tokens = tokens
        self._revocations = revocations
        self._table: dict[str, tuple[type[BaseModel], Handler]] = {}

    def register(self, sio: socketio.AsyncServer,
                 table: dict[str, tuple[type[BaseModel], Handler]]) -> None:
        self._table = table
        sio.on("connect", self.connect)
        sio.on("disconnect", self.disconnect)
        sio.on("*", self.dispatch)

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        client = _client_of(environ)
        try:
            session = await self._connect(sid, auth)
        except socketio.exceptions.ConnectionRefusedError as exc:
            code = exc.error_args.get("data", {}).get("code") if exc.error_args else None
            access_log.info("socket refused", extra={"event": "socket.refused", "sid": sid,
                                                     "client": client, "code": code})
            raise
        session.client = client
        access_log.info("socket connected", extra={"event": "socket.connect", "sid": sid,
                                                   "user_id": session.user_id,
                                                   "client": client})

    async def _connect(self, sid: str, auth: Any) -> Session:
        hub = self._hub
        if hub.stopping:
            raise refuse(ServiceUnavailable("the server is shutting down: connect to another"))
        if not hub.bus.available:  # it would miss what other processes publish
            raise refuse(ServiceUnavailable("the server cannot reach Redis"))
        try:
            claims = await verify_token(self._tokens, self._revocations, auth_token(auth))
            seen = hub.stores.users.version()  # before the read (realtime/session.py)
            user = await active_user(hub.stores, claims.sub)
        except STORE_ERRORS as exc:
            raise refuse(store_unavailable(exc)) from exc
        except RoomcastError as exc:
            raise refuse(exc) from exc
        session = Session(sid=sid, user_id=user.id, name=user.name, jti=claims.jti,
                          exp=claims.exp, bucket=self._bucket(sid), account_seen=seen)
        room = c.user_room(user.id)
        try:
            await hub.bus.watch(room)
        except (TimeoutError, RoomcastError, OSError) as exc:
            raise refuse(ServiceUnavailable("the server cannot reach Redis")) from exc
        hub.sessions[sid] = session
        await hub.sio.enter_room(sid, room)
        self.schedule_expiry(session)
        hub.metrics.sockets.inc()
        return session

    def _bucket(self, sid: str) -> EventBucket:
        """The connection's rate bucket, which its frames have counted against since it was
        opened (realtime/inbound.py): a new CONNECT on the same WebSocket gets no new burst."""
        sio = self._hub.sio
        socket = engine_socket(sio, engine_sid(sio, sid))
        bucket = getattr(socket, "bucket", None)
        if not isinstance(bucket, EventBucket):
            settings = self._hub.settings
            bucket = EventBucket(settings.socket_events_per_second, settings.socket_event_burst)
            if socket is not None:
                socket.bucket = bucket
        return bucket

    async def disconnect(self, sid: str, reason: Any = None) -> None:
        hub = self._hub
        hub.departed += 1
        session = hub.sessions.pop(sid, None)
        hub.fanout.forget(sid)
        if session is None:
            return
        if access_log.isEnabledFor(logging.INFO):  # the record's fields cost even if dropped
            access_log.info("socket disconnected", extra={
                "event": "socket.disconnect", "sid": sid, "user_id": session.user_id,
                "client": session.client, "reason": None if reason is None else str(reason),
                "duration_s": round(time.monotonic() - session.connected_at, 3)})
        hub.metrics.sockets.dec()
        if session.expiry is not None:
            session.expiry.cancel()
        for room in list(session.rooms):
            try:
                await hub.exit_room(session, room)
            except RoomcastError as exc:  # Redis or the store is down
                log.warning("leaving %s on disconnect failed: %r", room, exc)
            except Exception:
                log.exception("leaving %s on disconnect failed", room)
        hub.bus.unwatch_if_idle(c.user_room(session.user_id))

    async def dispatch(self, event: str, sid: str, *args: Any) -> c.Ack:
        session = self._hub.sessions.get(sid)
        if session is None or session.closing:
            return c.error(c.ERR_UNAUTHORIZED, "the connection is closing")
        entry = self._table.get(event)
        self._hub.metrics.events_in.labels(event if entry else "unknown").inc()
        if not session.bucket.take():
            return self._refuse_rate(session)
        if entry is None:
            return self._refused(c.error(c.ERR_UNKNOWN_EVENT, f"unknown event {event!r}",
                                         events=list(self._table)))
        model, handler = entry
        payload = args[0] if len(args) == 1 else None
        try:
            data = model.model_validate(payload)
        except ValidationError as exc:
            return self._refused(c.error(c.ERR_VALIDATION, "the payload is not valid",
                                         fields=_field_errors(exc)))
        try:
            return await handler(session, data)
        except STORE_ERRORS as exc:
            return self._refused(c.error(c.ERR_UNAVAILABLE, store_unavailable(exc).message))
        except RoomcastError as exc:
            return self._refused(c.error(exc.code, exc.message))
        except Exception:
            log.exception("handler for %r failed", event)
            return self._refused(c.error(c.ERR_INTERNAL, "internal error"))

    def _refuse_rate(self, session: Session) -> c.ErrorAck:
        settings = self._hub.settings
        if session.bucket.refused >= settings.socket_abuse_disconnect_after:
            self.abuse(session.sid)
        return self._refused(c.error(c.ERR_RATE_LIMITED, "too many events",
                                     retry_after=round(session.bucket.retry_after(), 3)))

    def abuse(self, sid: str) -> None:
        """Sustained abuse of the rate limit: `session:ending rate_limited`, then the
        WebSocket itself is closed (1008), so a new CONNECT on it gets nowhere."""
        hub = self._hub
        session = hub.sessions.get(sid)
        if session is None or session.closing:
            return
        eio_sid = engine_sid(hub.sio, sid)

        async def end() -> None:
            await hub.end_session(sid, c.ERR_RATE_LIMITED, "too many events: disconnected")
            if eio_sid is not None:
                close_socket(hub.sio, eio_sid, CLOSE_POLICY)

        hub.spawn(end())

    def _refused(self, ack: c.ErrorAck) -> c.ErrorAck:
        self._hub.metrics.refused_events.labels(ack["error"]["code"]).inc()
        return ack

    def schedule_expiry(self, session: Session) -> None:
        if session.expiry is not None:
            session.expiry.cancel()
        delay = max(0.0, session.exp - time.time())
        session.expiry = asyncio.get_running_loop().call_later(
            delay, lambda: self._hub.spawn(self._hub.end_session(
                session.sid, c.ERR_TOKEN_EXPIRED, "the access token expired: reconnect with "
                "a fresh one, or send auth:refresh before expiry")))

    def drop_slow(self, sid: str) -> None:
        session = self._hub.sessions.get(sid)
        if session is None or session.closing:
            return
        session.closing = True
        self._hub.metrics.slow_disconnects.inc()
        self._hub.metrics.session_endings.labels(c.REASON_SLOW_CONSUMER).inc()
        log.warning("disconnecting %s (%s): its outbound queue of %d frames is full", sid,
                    c.REASON_SLOW_CONSUMER, self._hub.settings.socket_outbound_queue)
        self._hub.spawn(self._close_transport(sid))

    async def _close_transport(self, sid: str) -> None:
        eio_sid = engine_sid(self._hub.sio, sid)
        socket = engine_socket(self._hub.sio, eio_sid)
        if socket is None:
            return
        # Drop what the client never read, then close without waiting for it to drain.
        drop_unsent(socket)
        if takes_writes(socket):
            # The connection still takes writes (a burst overran the queue, the client did not
            # stall): tell it why. A stalled one would never read it, nor let the close through.
            ending = c.session_ending(c.REASON_SLOW_CONSUMER,
                                      "too many events queued for this connection")
            enqueue(socket, message_packet(volatile_frame(c.SESSION_ENDING, ending)))
        enqueue(socket, None)
        await socket.close(wait=False, abort=True)

    async def on_control(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == CONTROL_REVOKE:
            await self._revoke(str(message["user_id"]), str(message["project_id"]))
        elif op == CONTROL_END_USER:
            await self._end_user(str(message["user_id"]), str(message["code"]))

    async def _end_user(self, user_id: str, code: str) -> None:
        """The account was deactivated or deleted: every socket of it here ends now."""
        hub = self._hub
        why = _ENDED.get(code, "the account can no longer be used")
        sids = participants(hub.sio, c.user_room(user_id))
        await asyncio.gather(*(hub.end_session(sid, code, why) for sid in sids),
                             return_exceptions=True)

    async def _revoke(self, user_id: str, project_id: str) -> None:
        hub = self._hub
        room = c.user_room(user_id)
        for sid in participants(hub.sio, room):
            session = hub.sessions.get(sid)
            if session is not None:
                await self._revoke_in(session, project_id)

    async def _revoke_in(self, session: Session, project_id: str) -> None:
        # A join in progress checked the membership before it ended: it takes the socket out
        # itself when it is done (handlers.py), so presence and attendance stay whole.
        for entering in session.entering.values():
            entering.revoked.add(project_id)
        for name, grant in list(session.rooms.items()):
            if grant.project_id == project_id and name not in session.entering:
                await self._hub.revoke_room(session, name)

    async def resubscribed(self, caught_up: dict[str, Position]) -> None:
        """After the pub/sub subscription was lost and is back: first the memberships (a
        revocation may have been missed), then the rooms' events published meanwhile."""
        await self.recheck_memberships()
        await self._hub.catch_up(caught_up)

    async def recheck_memberships(self) -> None:
        """Revocations published while the subscription was down never arrived here, so ask
        the store about every account and every project each local socket is in."""
        hub = self._hub
        await self._recheck_accounts()
        members: dict[tuple[str, str], bool] = {}
        for session in list(hub.sessions.values()):
            if session.closing:
                continue
            projects = {grant.project_id for grant in session.rooms.values()}
            for project_id in projects:
                key = (project_id, session.user_id)
                if key not in members:
                    role = await hub.stores.projects.member_role(project_id, session.user_id)
                    members[key] = role is not None
                if not members[key]:
                    log.warning("user %s left project %s while pub/sub was down: taking its "
                                "socket %s out of the project's rooms", session.user_id,
                                project_id, session.sid)
                    await self._revoke_in(session, project_id)

    async def _recheck_accounts(self) -> None:
        for user_id in {session.user_id for session in self._hub.sessions.values()}:
            user = await self._hub.stores.users.get(user_id)
            if user is None or not user.active:
                code = c.REASON_ACCOUNT_DELETED if user is None else c.REASON_ACCOUNT_DEACTIVATED
                log.warning("user %s's account ended while pub/sub was down: ending its "
                            "sockets", user_id)
                await self._end_user(user_id, code)

    async def drain(self) -> None:
        """Graceful shutdown: tell every client to reconnect, then disconnect it."""
        self._hub.stopping = True
        await self._close_stays()
        # From here every socket is being ended: where presence is this process's own, their
        # rooms empty with it and nobody is told of each departure (Hub.exit_room).
        self._hub.ending_all = True
        await asyncio.gather(*(
            self._hub.end_session(sid, c.REASON_SHUTDOWN, "the server is restarting: reconnect")
            for sid in list(self._hub.sessions)
        ), return_exceptions=True)
        # What the departures started (presence:updated to the rooms' sockets on other
        # processes) goes out before the process stops its Redis link; bounded, within the
        # drain's own budget.
        unfinished = await self._hub.settle_spawned(SPAWNED_BUDGET)
        if unfinished:
            log.warning("%d tasks the departures started were still running after %.1f s",
                        unfinished, SPAWNED_BUDGET)


    async def _close_stays(self) -> None:
        """Every meeting stay of this process's sockets ended in one write, not one per
        socket as each leaves (5000 sockets left a restart waiting a minute on the embedded
        store, where each of those writes reads the whole collection)."""
        sids = [sid for sid, session in self._hub.sessions.items()
                if any(room.startswith("meeting:") for room in session.rooms)]
        try:
            await self._hub.stores.attendance.close_sids(sids, utcnow())
            self._hub.stays_closed.update(sids)
        except RoomcastError as exc:  # the store is down: stays stay open
            log.warning("closing %d meeting stays on shutdown failed: %r", len(sids), exc)


_ENDED = {
    c.REASON_ACCOUNT_DEACTIVATED: "the account was deactivated",
    c.REASON_ACCOUNT_DELETED: "the account was deleted",
}


def _field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(err["loc"]), "message": err["msg"]}
            for err in exc.errors(include_url=False, include_context=False, include_input=False)]


def _client_of(environ: dict[str, Any]) -> str | None:
    """The peer's address from the ASGI scope (engine.io's REMOTE_ADDR is a placeholder)."""
    client = (environ.get("asgi.scope") or {}).get("client")
    return str(client[0]) if client else None
