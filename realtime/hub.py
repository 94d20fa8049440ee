"""The socket server's state and room operations, shared by the event handlers.

Entering a room: subscribe this process to the room (Redis), enter the local room, record
presence and attendance, broadcast the presence diff. Leaving does the reverse. Every path out
of a room (leave, disconnect, revocation, a dead process reaped) goes through `exit_room` or
`announce_departure`, so presence and attendance stay consistent; a stop with presence in this
process's memory, where every room empties with the process, announces nothing there
(`leaving_together`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from core.errors import RoomcastError, ServiceUnavailable
from core.ids import utcnow
from core.settings import Settings
from core.store.stores import Stores
from realtime.contract import (
    PRESENCE_JOINED,
    PRESENCE_LEFT,
    PRESENCE_UPDATED,
    REASON_MEMBERSHIP_REVOKED,
    REASON_MISSED_EVENTS,
    ROOM_REVOKED,
    SESSION_ENDING,
    PresenceChangeOut,
    PresenceEntry,
    PresenceLeftOut,
    RoomRevokedOut,
    session_ending,
)
from realtime.fanout import LocalFanout, RoomBus
from realtime.metrics import RealtimeMetrics
from realtime.presence import Departure, MemoryPresenceStore, PresenceStore
from realtime.rooms import RoomGrant
from realtime.session import Session
from realtime.streams import Position, RoomStreams, volatile_frame
from realtime.wire.socketio_server import DirectServer, engine_sid, participants

log = logging.getLogger("roomcast.realtime")


class Hub:
    def __init__(
        self, settings: Settings, sio: DirectServer, *, stores: Stores, bus: RoomBus,
        streams: RoomStreams, presence: PresenceStore, fanout: LocalFanout,
        metrics: RealtimeMetrics,
    ) -> None:
        self.settings = settings
        self.sio = sio
        self.stores = stores
        self.bus = bus
        self.streams = streams
        self.presence = presence
        self.fanout = fanout
        self.metrics = metrics
        self.sessions: dict[str, Session] = {}
        self.departed = 0  # sockets disconnected since start (roomcast/heap.py reads it)
        self.stopping = False  # shutting down: new connections are refused
        self.stays_closed: set[str] = set()  # sockets whose meeting stays a shutdown ended
        self.ending_all = False  # a shutdown is ending every socket of this process
        # Presence in this process's memory (the embedded default): no other process shares a
        # room, so every member of a room here is a socket of this process.
        self._presence_local = isinstance(presence, MemoryPresenceStore)
        # Per room, users whose connection count changed and who wait for a presence:updated.
        self._updates: dict[str, set[str]] = {}
        # Hold references so fire-and-forget tasks aren't garbage-collected mid-run.
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    async def settle_spawned(self, within: float) -> int:
        """Wait, for at most `within` seconds, until the work spawned so far has ended, and what
        it spawns meanwhile (a departure's presence:updated is sent by a task of its own);
        returns how many tasks were still running."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self._tasks and (left := deadline - loop.time()) > 0:
            await asyncio.wait(set(self._tasks), timeout=left)
        return len(self._tasks)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    async def enter_room(self, session: Session, grant: RoomGrant) -> None:
        """Put the socket in the room on this process: from here on it gets the room's live
        frames (held while its join replays what it missed)."""
        try:
            await self.bus.watch(grant.room)
        except TimeoutError as exc:
            raise ServiceUnavailable("Redis did not confirm the room subscription") from exc
        await self.sio.enter_room(session.sid, grant.room)
        session.rooms[grant.room] = grant

    async def record_entry(self, session: Session, grant: RoomGrant,
                           previous: str | None = None) -> list[PresenceEntry]:
        """Record the socket's presence and its meeting stay, tell the room, and answer the
        room's presence for the joiner (read in the same step as the entry was added).
        `previous`: the socket id the client had before, whose place it takes where another
        process recorded it (realtime/presence.py)."""
        count, presence, replaced = await self.presence.enter(
            grant.room, session.sid, session.user_id, session.name, session.status, previous)
        self.metrics.presence_entries.inc()
        if grant.kind == "meeting":
            stay = await self.stores.attendance.open(grant.room_id, session.user_id, session.sid)
            session.stays[grant.room] = stay.id
        entry = PresenceEntry(user_id=session.user_id, name=session.name,
                              status=session.status, connections=count)
        if replaced is not None:
            # Back in the place held for it since a restart, or in the one its connection on
            # a dead process had: the room already counts this user, and hears only of a
            # change (a new status, say).
            if entry == replaced:
                return presence
            event = PRESENCE_UPDATED
        else:
            event = PRESENCE_JOINED if count == 1 else PRESENCE_UPDATED
        # The joiner learns the same from the snapshot in its ack.
        change: PresenceChangeOut = {"room": grant.room, "user": entry.wire()}
        await self._broadcast(grant.room, event, change, skip_sid=session.sid)
        return presence

    async def sweep_presence(self) -> None:
        """Take out of presence what this process recorded for sockets or rooms it no longer
        holds (a removal Redis did not take), and tell the rooms."""
        for departure in await self.presence.sweep(self._live_entries):
            self.metrics.presence_entries.dec()
            await self.announce_departure(departure)

    def _live_entries(self) -> set[tuple[str, str]]:
        return {(room, sid) for sid, session in self.sessions.items() for room in session.rooms}

    async def exit_room(self, session: Session, room: str) -> None:
        grant = session.rooms.pop(room, None)
        await self.sio.leave_room(session.sid, room)
        self.bus.unwatch_if_idle(room)
        if grant is None:
            return
        stay = session.stays.pop(room, None)
        if self.leaving_together:
            # Nobody is told and no presence entry is removed, safely: presence is this
            # process's memory, so no socket elsewhere shares the room, and every socket here
            # is being ended by the same drain (told SESSION_ENDING, then disconnected). A
            # presence:left or presence:updated would only reach sockets on their way out
            # (about nine frames per socket in meetings of 10, most of a stop's work), and the
            # entries go with the memory they are in. What outlives the process is still done:
            # the socket has left the Socket.IO room, and its meeting stay is closed.
            await self._close_stay(room, session.sid, stay)
            return
        departure = await self.presence.remove(room, session.sid)
        if departure is None:
            # No entry to remove (its place was taken by a rejoin that named this socket, or
            # Redis lost it): nothing to announce, but the stay ends all the same.
            await self._close_stay(room, session.sid, stay)
            return
        self.metrics.presence_entries.dec()
        await self.announce_departure(departure, name=session.name, status=session.status,
                                      stay=stay)

    @property
    def leaving_together(self) -> bool:
        """Every socket in every room is leaving with this process: a shutdown is ending
        them all and no other process shares a room (`exit_room` then tells nobody)."""
        return self.ending_all and self._presence_local

    async def _close_stay(self, room: str, sid: str, stay: str | None = None) -> None:
        """End the socket's meeting stay in `room`, unless a shutdown ended it with every other
        one in a single write (Connections.drain)."""
        if room.startswith("meeting:") and sid not in self.stays_closed:
            await self.stores.attendance.close(room.partition(":")[2], sid, stay_id=stay)

    async def revoke_room(self, session: Session, room: str, *, tell: bool = True) -> None:
        """Take the socket out of a room of a project it is no longer a member of."""
        await self.exit_room(session, room)
        if tell:
            revoked: RoomRevokedOut = {"room": room, "code": REASON_MEMBERSHIP_REVOKED,
                                       "message": "you are no longer a member of this project"}
            self.fanout.send_to(session.sid, volatile_frame(ROOM_REVOKED, revoked))

    async def announce_departures(self, departures: list[Departure]) -> None:
        """Departures of a dead process's connections (reaped from presence): their meeting
        stays end in one write, not one per connection (a process of thousands died)."""
        sids = [d.sid for d in departures if d.room.startswith("meeting:") and not d.held]
        await self.stores.attendance.close_sids(sids, utcnow())
        # Told all at once: one after the other, each of thousands of `presence:left` would
        # wait for Redis' reply to the one before, and the heartbeat that reaped them for all.
        # A taken place is not a departure: its user is back in the room.
        await asyncio.gather(*(self.announce_departure(departure, stay_closed=True)
                               for departure in departures if not departure.taken))

    async def announce_departure(
        self, departure: Departure, *, name: str = "", status: str = "online",
        stay_closed: bool = False, stay: str | None = None,
    ) -> None:
        room = departure.room
        if not stay_closed:
            await self._close_stay(room, departure.sid, stay)
        if departure.remaining == 0:
            left: PresenceLeftOut = {"room": room, "user_id": departure.user_id}
            await self._broadcast(room, PRESENCE_LEFT, left)
            return
        self._update_later(room, departure.user_id)

    def _update_later(self, room: str, user_id: str) -> None:
        """Tell the room where a user that still has connections there stands now.

        Departures from one room are answered together: while one snapshot of the room is
        read, the users whose count changed meanwhile gather for the next, so a mass
        disconnect reads the room once per batch instead of once per socket (which made it
        quadratic in the room's size)."""
        waiting = self._updates.get(room)
        if waiting is None:
            waiting = self._updates[room] = set()
            self.spawn(self._send_updates(room))
        waiting.add(user_id)

    async def _send_updates(self, room: str) -> None:
        await asyncio.sleep(0)  # the departures of this loop turn join the batch
        users = self._updates.pop(room, set())
        try:
            entries = await self.presence.snapshot(room)
        except ServiceUnavailable:  # Redis went away: its return restores presence anyway
            log.warning("presence of %s could not be read to announce %d departures", room,
                        len(users))
            return
        for entry in entries:
            if entry.user_id in users:  # absent: the user left meanwhile (presence:left)
                change: PresenceChangeOut = {"room": room, "user": entry.wire()}
                await self._broadcast(room, PRESENCE_UPDATED, change)

    async def update_status(self, session: Session, room: str, status: str) -> PresenceEntry:
        session.status = status
        count = await self.presence.add(room, session.sid, session.user_id, session.name, status)
        entry = PresenceEntry(user_id=session.user_id, name=session.name, status=status,
                              connections=count)
        change: PresenceChangeOut = {"room": room, "user": entry.wire()}
        await self._broadcast(room, PRESENCE_UPDATED, change)
        return entry

    async def broadcast_volatile(
        self, room: str, event: str, data: Mapping[str, object], skip_sid: str | None = None
    ) -> None:
        await self.bus.publish(room, volatile_frame(event, data), skip_sid)

    async def end_session(self, sid: str, code: str, message: str) -> None:
        """Tell the socket why, then disconnect it (its disconnect handler cleans up)."""
        session = self.sessions.get(sid)
        if session is None or session.closing:
            return
        session.closing = True
        self.metrics.session_endings.labels(code).inc()
        eio_sid = engine_sid(self.sio, sid)
        if eio_sid is not None:
            # The way the DISCONNECT packet after it goes (DirectServer.send_text): written
            # at once when nothing is queued before it, else queued, so the two keep their
            # order; at a stop of thousands the Engine.IO queue's hop per socket was a cost.
            with contextlib.suppress(Exception):
                await self.sio.send_text(eio_sid, volatile_frame(
                    SESSION_ENDING, session_ending(code, message)))
        with contextlib.suppress(Exception):
            await self.sio.disconnect(sid)

    async def catch_up(self, caught_up: dict[str, Position]) -> None:
        """After this process's subscription was down: give each local socket what was
        published into its rooms meanwhile, from the rooms' history; where the history no
        longer reaches back, tell the socket to reconnect (its rejoin says recovered: false)."""
        for room, position in caught_up.items():
            sids = participants(self.sio, room)
            if not sids:
                continue
            for sid in sids:
                self.fanout.hold(sid, room)  # live frames wait behind the missed ones
            recovered = False
            try:
                # Another epoch (Redis restarted empty meanwhile) is never recovered, unless
                # this process delivered nothing of the room yet: its sockets hold no offset
                # the new history could be mistaken for, and its events carry the new epoch.
                epoch = position.epoch if position.offset else None
                recovery = await self.streams.since(room, position.offset, epoch)
                recovered = recovery.recovered
                for frame in recovery.frames:  # none when it did not recover
                    for sid in sids:
                        self.fanout.send_to(sid, frame)
            except RoomcastError:
                log.warning("catching %s up after the pub/sub outage failed", room)
            finally:
                for sid in sids:
                    self.fanout.release(sid, room)
            if not recovered:
                for sid in sids:
                    self.spawn(self.end_session(
                        sid, REASON_MISSED_EVENTS, f"events of {room} were missed and are no "
                        "longer in its history: reconnect and rejoin with `since`"))

    async def restore_presence(self) -> None:
        """Re-record every local connection after other processes took this one for dead."""
        for session in list(self.sessions.values()):
            for room in list(session.rooms):
                count = await self.presence.add(room, session.sid, session.user_id,
                                                session.name, session.status)
                entry = PresenceEntry(user_id=session.user_id, name=session.name,
                                      status=session.status, connections=count)
                event = PRESENCE_JOINED if count == 1 else PRESENCE_UPDATED
                change: PresenceChangeOut = {"room": room, "user": entry.wire()}
                await self._broadcast(room, event, change)

    async def _broadcast(
        self, room: str, event: str, data: Mapping[str, object], skip_sid: str | None = None
    ) -> None:
        await self.bus.publish(room, volatile_frame(event, data), skip_sid)
