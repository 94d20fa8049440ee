"""Stands in for python-engineio 4.15.1's `AsyncSocket` WebSocket path (`_websocket_handler`,
`schedule_ping`, `poll`, `receive`, `close`): sockets are swapped to `LeanSocket` as
`AsyncServer.sockets` registers them, and their `queue` is read and drained here.
Re-check on upgrade: tests/canary/test_engineio.py.

python-engineio's socket, for every WebSocket connection, keeps a task per ping cycle (a
sleeping `_send_ping`), a writer task whose wait for the next packet is an `asyncio.wait_for`
(one more task and a timer), and reads every incoming packet through `ensure_future` and
`wait_for` (a task, a future and a timer per packet). Its per-read timeout ends a connection
whose peer stays silent for a ping interval plus a ping timeout.

`LeanSocket` keeps the wire protocol and python-engineio's own logic (the same packets, the
same `receive`, `close` and upgrade from polling) and changes only that bookkeeping:

- the next ping is a timer (`loop.call_later`), not a task;
- the WebSocket writer waits on the queue without a timeout (pings keep it busy anyway);
- a WebSocket served by Roomcast's transport (`realtime/wire/uvicorn_protocol.py`) is detached from
  ASGI once accepted: incoming messages arrive in a callback, queued packets are written as they are
  put (or when the transport drains), and the end of the connection is a callback too, so the
  connection holds no task at all. Any other WebSocket is read with a plain `await`, no task or
  timer per packet.
- Liveness is what Engine.IO's own heartbeat already checks: the server's service task closes
  a socket whose pong is late (`check_ping_timeout`), and once a socket is closed a peer that
  does not hang up within the ping timeout is hung up on, as the per-read timeout did.

The sockets are made `LeanSocket`s as Engine.IO registers them (`install`), since python-engineio
creates its sockets itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import socketio
from engineio import exceptions, packet
from engineio.async_socket import AsyncSocket
from engineio.packet import Packet as Packet  # re-exported: the fan-out holds packets

from realtime.packets import CLOSE_NORMAL, CLOSE_POLICY, CLOSE_PROTOCOL, CLOSE_UNSUPPORTED
from realtime.wire.asyncio_queue import CountingQueue
from realtime.wire.frames import ws_frame
from realtime.wire.uvicorn_protocol import SocketProtocol

log = logging.getLogger("roomcast.realtime")


class LeanSocket(AsyncSocket):  # type: ignore[misc]
    # python-engineio's attributes, as this class uses them.
    server: Any
    queue: Any
    last_ping: float | None
    connected: bool
    upgraded: bool
    closing: bool
    closed: bool
    _ping_timer: asyncio.TimerHandle | None = None
    _reader: asyncio.Task[Any] | None = None
    _hangup: asyncio.TimerHandle | None = None
    _hanging_up = False
    _protocol: SocketProtocol | None = None  # set while a detached WebSocket is driven here
    _connect_timer: asyncio.TimerHandle | None = None
    bucket: Any = None  # the connection's EventBucket (realtime/inbound.py), from its first frame
    ending = False  # closing after the client's CLOSE or DISCONNECT: acks of running events first
    waiting: list[str] | None = None  # packets behind a CONNECT that is being answered
    close_code = CLOSE_NORMAL  # the WebSocket close code `_flush` closes with

    def schedule_ping(self) -> None:
        # As python-engineio: a new ping only once the previous one was answered.
        if self.last_ping:
            self.last_ping = None
            self._ping_timer = asyncio.get_running_loop().call_later(
                self.server.ping_interval, self._ping)

    def _ping(self) -> None:
        self._ping_timer = None
        if not self.closing and not self.closed:
            self.last_ping = time.time()
            self.queue.put_nowait(packet.Packet(packet.PING))

    async def poll(self) -> list[Any]:
        if not self.upgraded:  # long-polling: a GET must end after the ping period
            packets: list[Any] = await super().poll()
            return packets
        first = await self.queue.get()
        self.queue.task_done()
        if first is None:
            return []
        packets = [first]
        while not self.queue.empty():
            pkt = self.queue.get_nowait()
            self.queue.task_done()
            if pkt is None:
                self.queue.put_nowait(None)
                break
            packets.append(pkt)
        return packets

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None
        await super().close(wait=wait, abort=abort, reason=reason)
        reader, protocol = self._reader, self._protocol
        alive = (reader is not None and not reader.done()) or (
            protocol is not None and not protocol.disconnected)
        if alive and self._hangup is None:
            self._hangup = asyncio.get_running_loop().call_later(
                self.server.ping_timeout, self._hang_up)

    def _hang_up(self) -> None:
        self._hangup = None
        if self._protocol is not None and not self._protocol.disconnected:
            self._protocol.transport.abort()
        elif self._reader is not None and not self._reader.done():
            self._hanging_up = True
            self._reader.cancel()

    # A detached WebSocket (uvicorn_protocol.py): no task of its own. Incoming messages arrive
    # in `_on_message`, outgoing packets are written as they are queued (`_flush`), and the
    # end of the connection arrives in `_on_lost`.

    def _detach(self, protocol: SocketProtocol) -> None:
        self._protocol = protocol
        protocol.detach(on_message=self._on_message, on_writable=self._flush,
                        on_lost=self._on_lost)
        self.queue.on_put = self._flush
        self._flush()  # the OPEN packet and anything else queued before now

    def _on_message(self, data: str | bytes) -> None:
        # Text only: Roomcast takes no binary message, packet or attachment. A Socket.IO packet
        # (an Engine.IO MESSAGE, most often a client event) goes to realtime/inbound.py, which
        # reads it without python-socketio's per-packet tasks; every other frame counts against
        # the same rate.
        inbound = self.server.inbound
        if isinstance(data, bytes):
            self.refuse(CLOSE_UNSUPPORTED, "a binary message")
        elif data[:1] == "4":
            inbound(self, data[1:])
        elif not inbound.admit(self):
            return
        elif data[:1] == "3":  # PONG
            self.schedule_ping()
        elif data == "1":  # CLOSE
            self.finish(CLOSE_NORMAL)
        elif data[:1] == "5":  # UPGRADE: nothing to upgrade to, as python-engineio answers
            self.queue.put_nowait(packet.Packet(packet.NOOP))
        elif data != "6":  # anything but a NOOP
            self.refuse(CLOSE_PROTOCOL, "an Engine.IO packet a client does not send")

    async def receive(self, pkt: Any) -> None:
        # Long-polling and a WebSocket that is not detached: the same rules.
        if pkt.packet_type == packet.MESSAGE:
            self._on_message(pkt.data if isinstance(pkt.data, bytes) else "4" + pkt.data)
        elif self.server.inbound.admit(self):
            if pkt.packet_type == packet.CLOSE:
                self.finish(CLOSE_NORMAL)
            elif pkt.packet_type in (packet.PONG, packet.UPGRADE):
                await super().receive(pkt)
            elif pkt.packet_type != packet.NOOP:
                self.refuse(CLOSE_PROTOCOL, "an Engine.IO packet a client does not send")

    def refuse(self, code: int, reason: str) -> None:
        """Close the connection at once with `code`: nothing more is read from it."""
        if self.closed or self.closing or self._hanging_up:
            return
        self.server.inbound.refusals.warning("%s: closing with %d: %s", self.sid, code, reason)
        protocol = self._protocol
        if protocol is not None:
            protocol.close_frame(code)
        else:
            self.close_code = code
            self.queue.put_nowait(None)
        self.server.start_background_task(self.close, wait=False, abort=True,
                                          reason=self.server.reason.CLIENT_DISCONNECT)

    def finish(self, code: int) -> None:
        """Close the connection once the acks of its running events are sent (the client's
        CLOSE or DISCONNECT). Events that arrive from now on are answered `unauthorized`
        (closing), not dropped."""
        if self.closed or self.closing or self.ending:
            return
        self.ending = True
        self.server.start_background_task(self._finish_after_acks, code)

    async def _finish_after_acks(self, code: int) -> None:
        await self.server.inbound.settle(self.sid, self.server.ping_timeout)
        self.close_code = code
        await self.close(wait=False, abort=True, reason=self.server.reason.CLIENT_DISCONNECT)
        self.queue.put_nowait(None)

    def _connect_timed_out(self) -> None:
        self._connect_timer = None
        if not self.server.inbound.connected(self):
            self.refuse(CLOSE_POLICY, "no Socket.IO CONNECT in time")

    def _flush(self) -> None:
        protocol, queue = self._protocol, self.queue
        if protocol is None:
            return
        while not queue.empty():
            if queue.head() is None:  # the end: close even a client that stopped reading
                self._take()
                if protocol.writable.is_set():
                    protocol.close_frame(self.close_code)
                else:
                    protocol.transport.abort()
                return
            if protocol.disconnected or protocol.close_sent:
                self._take()  # nobody will read it
                continue
            if not protocol.writable.is_set():
                return  # resume_writing calls again
            protocol.transport.write(ws_frame(self._take().encode()))

    def _take(self) -> Any:
        queue = self.queue
        pkt = queue.get_nowait()
        queue.task_done()
        queue.unsent -= 1
        return pkt

    def _on_lost(self) -> None:
        for timer in (self._ping_timer, self._hangup, self._connect_timer):
            if timer is not None:
                timer.cancel()
        self._ping_timer = self._hangup = self._connect_timer = None
        self.queue.on_put = None
        self._protocol = None
        self.server.start_background_task(self._finish)

    async def _finish(self) -> None:
        await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
        if self.server.sockets.get(self.sid) is self:
            del self.server.sockets[self.sid]

    async def _websocket_handler(self, ws: Any) -> None:
        if self.connected:  # an upgrade from long-polling: python-engineio's own handler
            await super()._websocket_handler(ws)
            return
        self.connected = True
        self.upgraded = True
        protocol = getattr(getattr(ws, "asgi_send", None), "__self__", None)
        if isinstance(protocol, SocketProtocol) and isinstance(self.queue, CountingQueue):
            self._detach(protocol)
            return
        self._reader = asyncio.current_task()
        writer_task = asyncio.ensure_future(self._write(ws))
        try:
            await self._read(ws)
        finally:
            if self._hangup is not None:
                self._hangup.cancel()
                self._hangup = None
            if self._ping_timer is not None:
                self._ping_timer.cancel()
                self._ping_timer = None
            self._reader = None
        await self.queue.put(None)  # unlock the writer so it can exit
        await writer_task
        await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)

    async def _read(self, ws: Any) -> None:
        limit = self.server.max_http_buffer_size
        while True:
            try:
                data = await ws.wait()
            except asyncio.CancelledError:
                if not self._hanging_up:
                    raise
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
                return
            except Exception:  # the connection ended (Engine.IO's wrapper raises OSError)
                return
            if data is None or len(data) > limit:
                return
            try:
                if isinstance(data, bytes) or data[:1] == "4":
                    self._on_message(data)
                else:
                    await self.receive(packet.Packet(encoded_packet=data))
            except exceptions.SocketIsClosedError:
                return
            except Exception as exc:  # an Engine.IO packet python-engineio cannot decode
                self.refuse(CLOSE_PROTOCOL, f"an undecodable Engine.IO packet ({exc!r})")

    async def _write(self, ws: Any) -> None:
        while True:
            packets = await self.poll()
            if not packets:
                break
            try:
                for pkt in packets:
                    await ws.send(pkt.encode())
            except Exception:
                break
        await ws.close()


class _Sockets(dict[str, Any]):
    """Engine.IO's socket table: a socket becomes a LeanSocket as it is registered, before it
    sends its first packet or schedules its first ping."""

    def __setitem__(self, sid: str, socket: Any) -> None:
        if type(socket) is AsyncSocket:
            socket.__class__ = LeanSocket
            # As the reference server's connectTimeout: a connection that never connects to
            # the namespace is closed.
            socket._connect_timer = asyncio.get_running_loop().call_later(
                socket.server.connect_timeout, socket._connect_timed_out)
        super().__setitem__(sid, socket)


def install(sio: socketio.AsyncServer, *, connect_timeout: float = 45.0) -> None:
    """Make the server's Engine.IO sockets LeanSockets (call before any connection)."""
    sio.eio.sockets = _Sockets(sio.eio.sockets)
    sio.eio.connect_timeout = connect_timeout
    # Set to realtime/inbound.py's InboundEvents once the event dispatcher exists.
    sio.eio.inbound = None


def close_socket(sio: socketio.AsyncServer, eio_sid: str, code: int) -> None:
    """Close an Engine.IO socket's connection with `code` once what is queued is written."""
    socket = sio.eio.sockets.get(eio_sid)
    if isinstance(socket, LeanSocket) and not socket.closed:
        socket.close_code = code
        socket.queue.put_nowait(None)
        sio.eio.start_background_task(socket.close, wait=False, abort=True,
                                      reason=sio.eio.reason.SERVER_DISCONNECT)


def message_packet(frame: str) -> Packet:
    """The Engine.IO MESSAGE packet carrying an encoded Socket.IO packet."""
    pkt: Packet = Packet(packet.MESSAGE, frame)
    return pkt


def engine_sockets(sio: socketio.AsyncServer) -> dict[str, Any]:
    """Engine.IO's socket table, Engine.IO sid -> socket (read in the fan-out's loop)."""
    sockets: dict[str, Any] = sio.eio.sockets
    return sockets


def attach_inbound(sio: socketio.AsyncServer, inbound: Any) -> None:
    """Give every LeanSocket the reader of its Socket.IO packets (realtime/inbound.py)."""
    sio.eio.inbound = inbound


def engine_socket(sio: socketio.AsyncServer, eio_sid: str | None) -> Any:
    """The Engine.IO socket of `eio_sid`, None when it is gone."""
    return sio.eio.sockets.get(eio_sid) if eio_sid is not None else None


def backlog(socket: Any) -> int:
    """Packets on the socket's outbound queue."""
    size: int = socket.queue.qsize()
    return size


def enqueue(socket: Any, pkt: Any) -> None:
    """Put an Engine.IO packet (or None: the end) on the socket's outbound queue."""
    socket.queue.put_nowait(pkt)


def drop_unsent(socket: Any) -> None:
    """Drop what the client never read from the socket's outbound queue."""
    queue = socket.queue
    while not queue.empty():
        queue.get_nowait()
        queue.task_done()


def takes_writes(socket: Any) -> bool:
    """The connection still takes writes (not stalled by flow control)."""
    protocol = getattr(socket, "_protocol", None)
    return protocol is None or bool(protocol.writable.is_set())
