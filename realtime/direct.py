"""Writing a broadcast's WebSocket frame straight to each connection's transport.

python-engineio sends every packet through the socket's queue, a writer task per socket, the
ASGI `send` call and uvicorn's WebSocket protocol, which frames the same text again for every
recipient. For a room broadcast the bytes on the wire are identical for every recipient (no
compression, server frames are not masked), so they are built once and written to each
connection's transport directly.

The direct write is taken only when it cannot reorder or bypass anything: the connection is a
plain WebSocket served by uvicorn's sans-I/O protocol from its first packet (not upgraded from
polling), open, without extensions (no permessage-deflate), not paused by flow control, and
every packet put on the socket's queue has been written (an empty queue is not enough: the
writer task takes packets off the queue a loop turn before it writes them). Otherwise the
packet goes through the queue as before, which is also where a slow client's backlog is counted.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import socketio
from engineio.async_drivers.asgi import WebSocket as AsgiWebSocket
from websockets.protocol import State

try:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # an older uvicorn: every packet takes the queue
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]

MESSAGE = "4"  # the Engine.IO MESSAGE packet type that prefixes every Socket.IO packet


def ws_frame(data: str | bytes) -> bytes:
    """One unmasked, unfragmented RFC 6455 frame: text for a str, binary for bytes."""
    if isinstance(data, str):
        payload, opcode = data.encode(), 0x81
    else:
        payload, opcode = data, 0x82
    size = len(payload)
    if size < 126:
        header = bytes((opcode, size))
    elif size < 65536:
        header = bytes((opcode, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((opcode, 127)) + size.to_bytes(8, "big")
    return header + payload


def text_frame(frame: str) -> bytes:
    """The text frame carrying a Socket.IO packet as an Engine.IO message."""
    return ws_frame(MESSAGE + frame)


class _Line(list[Any]):
    """A list with the one deque method asyncio.Queue uses: an empty deque costs about 600
    bytes and an empty list 56, and an idle socket's queue and its waiters are empty."""

    __slots__ = ()

    def popleft(self) -> Any:
        return self.pop(0)


class CountingQueue(asyncio.Queue[Any]):
    """A socket's outbound queue that knows how many of its packets are not written yet.

    Its storage and waiter lines are lists: they hold at most the outbound limit
    (SOCKET_OUTBOUND_QUEUE) and one waiter, so taking the first item stays cheap.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._getters: Any = _Line()
        self._putters: Any = _Line()
        self.unsent = 0
        # Called after every put when the socket writes from callbacks (realtime/engine.py).
        self.on_put: Any = None

    def head(self) -> Any:
        """The next packet to be taken (the queue must not be empty)."""
        return self._queue[0]

    def _init(self, maxsize: int) -> None:
        self._queue: Any = _Line()

    def put_nowait(self, item: Any) -> None:
        super().put_nowait(item)
        self.unsent += 1  # asyncio.Queue.put ends in put_nowait, so both are counted
        if self.on_put is not None:
            self.on_put()


class DirectWrites:
    """Knows each WebSocket connection's uvicorn protocol, by Engine.IO session id."""

    def __init__(self) -> None:
        # Weak: an entry goes away with its connection, however the connection ended.
        self._protocols: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()

    def install(self, sio: socketio.AsyncServer) -> None:
        """Make Engine.IO's WebSocket wrapper register each connection here."""
        if WebSocketsSansIOProtocol is None:
            return
        registry = self

        class TrackedWebSocket(AsgiWebSocket):  # type: ignore[misc]
            def __init__(self, handler: Any, server: Any) -> None:
                super().__init__(handler, server)
                self._socket = getattr(handler, "__self__", None)
                self._queue: CountingQueue | None = None

            async def __call__(self, environ: dict[str, Any]) -> Any:
                socket = self._socket
                # An upgrade from polling also sends its probe answer through here: not
                # counted as a queued packet, so such sockets simply keep the queue.
                if socket is not None and not socket.connected:
                    if isinstance(socket.queue, CountingQueue):
                        self._queue = socket.queue
                    registry._track(socket, environ.get("asgi.send"))
                # The request body reader is read only by polling POSTs; Engine.IO's ASGI driver
                # makes a class for it per request, which a WebSocket would keep all its life.
                environ.pop("wsgi.input", None)
                # As Engine.IO's wrapper, with the handshake's objects let go once accepted.
                self.asgi_receive = environ["asgi.receive"]
                self.asgi_send = environ["asgi.send"]
                await self.asgi_send({"type": "websocket.accept"})
                _settle(self.asgi_send)
                await self.handler(self)
                return ""

            async def send(self, message: Any) -> None:
                # Only the writer task sends through here once connected: one queued packet.
                await super().send(message)
                if self._queue is not None:
                    self._queue.unsent -= 1

        eio = sio.eio
        eio._async = {**eio._async, "websocket": TrackedWebSocket}
        eio.create_queue = CountingQueue

    def _track(self, socket: Any, send: Any) -> None:
        protocol = getattr(send, "__self__", None)
        if isinstance(protocol, WebSocketsSansIOProtocol):
            self._protocols[socket.sid] = protocol

    def write(self, socket: Any, data: bytes) -> bool:
        """Write the prepared frame if it is safe now; False means: use the queue."""
        detached = socket._protocol  # set while realtime/engine.py drives the connection
        if detached is not None:
            if socket.queue.unsent or detached.close_sent or not detached.writable.is_set():
                return False
            detached.transport.write(data)
            return True
        queue = socket.queue
        if not isinstance(queue, CountingQueue) or queue.unsent or socket.upgrading:
            return False
        protocol = self._protocols.get(socket.sid)
        if protocol is None or not protocol.writable.is_set():
            return False
        if (protocol.close_sent or protocol.disconnected or not protocol.handshake_complete
                or protocol.conn.state is not State.OPEN or protocol.conn.extensions):
            return False
        transport = protocol.transport
        if transport.is_closing():
            return False
        transport.write(data)
        return True


def _settle(send: Any) -> None:
    """Drop what uvicorn keeps of a finished WebSocket handshake (the request and response
    objects with their headers); nothing reads them after the connection is accepted."""
    protocol = getattr(send, "__self__", None)
    if (WebSocketsSansIOProtocol is not None and isinstance(protocol, WebSocketsSansIOProtocol)
            and protocol.handshake_complete):
        protocol.request = None  # type: ignore[assignment]
        protocol.response = None  # type: ignore[assignment]


class DirectServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server, sending each text packet to one socket (acks, the connect
    answer, a single socket's events) through the same direct write when it is safe."""

    direct: DirectWrites | None = None
    on_direct: Any = None  # called with 1 for each packet written directly

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        if self.direct is not None:
            encoded = pkt.encode()
            if isinstance(encoded, str):
                await self.send_text(eio_sid, encoded)
                return
        await super()._send_packet(eio_sid, pkt)

    async def send_text(self, eio_sid: str, encoded: str) -> None:
        """Send one encoded Socket.IO text packet to one socket: written directly when it is
        safe, through Engine.IO's queue otherwise."""
        direct = self.direct
        socket = self.eio.sockets.get(eio_sid)
        if (direct is not None and socket is not None and not socket.closed
                and direct.write(socket, text_frame(encoded))):
            if self.on_direct is not None:
                self.on_direct(1)
            return
        await self.eio.send(eio_sid, encoded)
