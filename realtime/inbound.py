"""Every Socket.IO packet a client sends, read off its connection here, without python-socketio's
per-packet path.

python-socketio handles each incoming EVENT through two background tasks (Engine.IO's message
handler, then the Socket.IO event handler), a packet object decoded twice, and a handler lookup
per event. Every Roomcast event goes to one catch-all dispatcher (`Connections.dispatch`), so
an EVENT is parsed here once (`realtime/packets.py`) and dispatched in one task; its ack is
framed once and written through the direct path. CONNECT and DISCONNECT go to python-socketio
once they have passed the same parser; anything else is refused (docs/protocol.md, "Refused
frames and packets"): an error ack when the packet asked for one and only its payload is bad,
otherwise the connection is closed with a code. Nothing a client sends reaches a decoder that
raises, so a bad packet costs one log line at most, never a traceback.

Every packet counts against the connection's event rate (`EventBucket`), from its first frame
on: events in the dispatcher, everything else here, and the bucket is the connection's, so a
new CONNECT on the same WebSocket does not get a fresh burst.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from core.settings import Settings
from realtime import contract as c
from realtime.limits import EventBucket
from realtime.packets import (
    CLOSE_NORMAL,
    CLOSE_POLICY,
    CLOSE_PROTOCOL,
    CONNECT,
    DISCONNECT,
    EVENT,
    BadPacket,
    ClientPacket,
    ack_text,
    parse_packet,
)
from realtime.wire.socketio_server import connected_sid, handle_connect

log = logging.getLogger("roomcast.realtime")

Dispatch = Callable[..., Awaitable[Any]]
SendText = Callable[[str, str], Coroutine[Any, Any, None]]

__all__ = ["InboundEvents", "ThrottledLog", "ack_text"]


class ThrottledLog:
    """One log line per `every` seconds at most, saying how many were left out meanwhile."""

    def __init__(self, every: float = 10.0) -> None:
        self._every = every
        self._next = 0.0
        self._skipped = 0

    def warning(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now < self._next:
            self._skipped += 1
            return
        skipped, self._skipped, self._next = self._skipped, 0, now + self._every
        if skipped:
            log.warning(message + " (and %d more refused since the last line)", *args, skipped)
        else:
            log.warning(message, *args)


class InboundEvents:
    """Called by each Engine.IO socket (realtime/wire/engineio_socket.py) with every Socket.IO
    packet it receives, and with every other frame through `admit`."""

    def __init__(self, sio: Any, dispatch: Dispatch, send_text: SendText, *,
                 settings: Settings) -> None:
        self._sio = sio
        self._dispatch = dispatch
        self._send_text = send_text
        self._rate = settings.socket_events_per_second
        self._burst = settings.socket_event_burst
        self._abuse_after = settings.socket_abuse_disconnect_after
        # Sustained abuse by a connected client: `session:ending` first (set by the server).
        self.on_abuse: Callable[[str], None] | None = None
        self.stopping = False  # shutting down: new events are refused, running ones finish
        self.refusals = ThrottledLog()
        # Running handlers per Engine.IO socket; also holds references so they aren't
        # garbage-collected mid-run.
        self._running: dict[str, set[asyncio.Task[None]]] = {}

    # The rate every frame counts against.

    def bucket(self, socket: Any) -> EventBucket:
        bucket: EventBucket | None = getattr(socket, "bucket", None)
        if bucket is None:
            bucket = socket.bucket = EventBucket(self._rate, self._burst)
        return bucket

    def admit(self, socket: Any) -> bool:
        """Count one frame that is not an event; False once the connection is being closed
        for sustained abuse (the frame is then ignored)."""
        bucket = self.bucket(socket)
        if bucket.take() or bucket.refused < self._abuse_after:
            return True
        self.abuse(socket)
        return False

    def abuse(self, socket: Any) -> None:
        sid = self._connected_sid(socket)
        if sid is not None and self.on_abuse is not None:
            self.on_abuse(sid)
        else:
            socket.refuse(CLOSE_POLICY, "too many frames")

    # Socket.IO packets.

    def __call__(self, socket: Any, text: str) -> None:
        waiting: list[str] | None = getattr(socket, "waiting", None)
        if waiting is not None:
            # A CONNECT is being answered: what follows it waits for it, in order (bounded).
            if len(waiting) >= self._burst:
                socket.refuse(CLOSE_POLICY, "too many packets before the CONNECT was answered")
                return
            waiting.append(text)
            return
        try:
            pkt = parse_packet(text)
        except BadPacket as exc:
            self._bad(socket, exc)
            return
        if pkt.namespace != "/":
            self._bad(socket, BadPacket(f"no namespace {pkt.namespace!r}: only '/' is served"))
        elif pkt.kind == EVENT:
            self._event(socket, pkt)
        elif not self.admit(socket):
            return
        elif pkt.kind == CONNECT:
            if self._connected_sid(socket) is not None:
                self._bad(socket, BadPacket("a CONNECT on a connected namespace"))
                return
            socket.waiting = []  # until this one is answered (one session per socket)
            self._spawn(socket, self._connect(socket, pkt.data))
        elif pkt.kind == DISCONNECT:
            socket.finish(CLOSE_NORMAL)

    def _event(self, socket: Any, pkt: ClientPacket) -> None:
        ack_id, data = pkt.ack_id, pkt.data
        sid = self._connected_sid(socket)
        if sid is None or self.stopping or getattr(socket, "ending", False):
            if not self.admit(socket):
                return
            if self.stopping:
                answer = c.error(c.ERR_UNAVAILABLE, "the server is shutting down: reconnect "
                                 "and send it again")
            elif sid is None and not getattr(socket, "ending", False):
                if ack_id is None:
                    self._bad(socket, BadPacket("an event before CONNECT"))
                    return
                answer = c.error(c.ERR_UNAUTHORIZED, "not connected: send CONNECT first")
            else:
                answer = c.error(c.ERR_UNAUTHORIZED, "the connection is closing")
            if ack_id is not None:
                self._spawn(socket, self._send_text(socket.sid, ack_text(ack_id, answer)))
            return
        self._spawn(socket, self._run(sid, socket.sid, ack_id, data))

    def _bad(self, socket: Any, exc: BadPacket) -> None:
        if exc.ack_id is None:
            socket.refuse(exc.close_code, exc.reason)  # which logs it
            return
        self.refusals.warning("%s: refused a packet: %s", socket.sid, exc.reason)
        if not self.admit(socket):
            return
        answer = c.error(c.ERR_VALIDATION, "the packet is not valid",
                         fields=[{"loc": [], "message": exc.reason}])
        self._spawn(socket, self._send_text(socket.sid, ack_text(exc.ack_id, answer)))

    def connected(self, socket: Any) -> bool:
        """The socket is connected to the namespace (its CONNECT was accepted)."""
        return self._connected_sid(socket) is not None

    def _connected_sid(self, socket: Any) -> str | None:
        return connected_sid(self._sio, socket.sid)

    async def _connect(self, socket: Any, auth: Any) -> None:
        try:
            await handle_connect(self._sio, socket.sid, auth)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s: connecting failed: %r", socket.sid, exc)
            socket.refuse(CLOSE_PROTOCOL, "connecting failed")
        finally:
            waiting, socket.waiting = socket.waiting, None
        for text in waiting or ():  # sent behind the CONNECT: handled as it left them
            self(socket, text)

    async def _run(self, sid: str, eio_sid: str, ack_id: int | None, data: list[Any]) -> None:
        try:
            result = await self._dispatch(data[0], sid, *data[1:])
            if ack_id is not None:
                await self._send_text(eio_sid, ack_text(ack_id, result))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The dispatcher answers every handler error itself; this is a failed send.
            log.warning("answering event %r from %s failed: %r", data[0], sid, exc)

    # Handlers in flight: a closing connection and a draining server wait for their acks.

    def _spawn(self, socket: Any, work: Coroutine[Any, Any, None]) -> None:
        eio_sid = socket.sid
        task = asyncio.get_running_loop().create_task(work)
        running = self._running.setdefault(eio_sid, set())
        running.add(task)

        def done(task: asyncio.Task[None]) -> None:
            running.discard(task)
            if not running and self._running.get(eio_sid) is running:
                del self._running[eio_sid]

        task.add_done_callback(done)

    async def settle(self, eio_sid: str, within: float) -> None:
        """Wait (at most `within` seconds) for the socket's running handlers and their acks,
        the current task excepted."""
        running = self._running.get(eio_sid, set()) - {asyncio.current_task()}
        if running:
            await asyncio.wait(running, timeout=within)

    async def settle_all(self, within: float) -> int:
        """Wait for every running handler, at most `within` seconds; how many did not end."""
        running = set().union(*self._running.values()) - {asyncio.current_task()}
        if not running:
            return 0
        _, pending = await asyncio.wait(running, timeout=within)
        return len(pending)

