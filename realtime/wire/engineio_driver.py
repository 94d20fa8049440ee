"""Stands in for python-engineio 4.15.1's ASGI WebSocket driver (`engineio.async_drivers.asgi.
WebSocket`, chosen from the private `AsyncServer._async` table), its `create_queue` and, for a
WebSocket, its ASGI `translate_request` (copied and changed), and reaches uvicorn 0.55's
`WebSocketsSansIOProtocol` through `send.__self__`, to write a broadcast's WebSocket frame
straight to each connection's transport.
Re-check on upgrade: tests/canary/test_engineio.py, tests/canary/test_uvicorn.py.

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

import sys
import weakref
from typing import Any

import socketio
from engineio.async_drivers.asgi import WebSocket as AsgiWebSocket
from engineio.async_drivers.asgi import translate_request
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from realtime.wire.asyncio_queue import CountingQueue


class DirectWrites:
    """Knows each WebSocket connection's uvicorn protocol, by Engine.IO session id."""

    def __init__(self) -> None:
        # Weak: an entry goes away with its connection, however the connection ended.
        self._protocols: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()

    def install(self, sio: socketio.AsyncServer) -> None:
        """Make Engine.IO's WebSocket wrapper register each connection here."""
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
        eio._async = {**eio._async, "websocket": TrackedWebSocket,
                      "translate_request": _translate_request}
        eio.create_queue = CountingQueue

    def _track(self, socket: Any, send: Any) -> None:
        protocol = getattr(send, "__self__", None)
        if isinstance(protocol, WebSocketsSansIOProtocol):
            self._protocols[socket.sid] = protocol

    def write(self, socket: Any, data: bytes) -> bool:
        """Write the prepared frame if it is safe now; False means: use the queue."""
        detached = socket._protocol  # set while engineio_socket.py drives the connection
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
    if isinstance(protocol, WebSocketsSansIOProtocol) and protocol.handshake_complete:
        protocol.request = None  # type: ignore[assignment]
        protocol.response = None  # type: ignore[assignment]


async def _translate_request(scope: Any, receive: Any, send: Any) -> dict[str, Any]:
    """python-engineio's ASGI `translate_request`, for a WebSocket without the request body
    reader (`wsgi.input`): only a polling POST reads it, and upstream makes a class for it on
    every request, a few microseconds and a class object in reference cycles per connection.
    TrackedWebSocket drops it from the environ anyway before anything else sees it."""
    if scope["type"] != "websocket":
        return await translate_request(scope, receive, send)  # type: ignore[no-any-return]
    # From here on upstream's body, less `wsgi.input` (and in today's spelling).
    event = await receive()
    if event["type"] not in ["http.request", "websocket.connect"]:
        return {}

    raw_uri = scope["path"]
    query_string = ""
    if scope.get("query_string"):
        try:
            query_string = scope["query_string"].decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            raw_uri += "?" + query_string
    environ = {
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.async": True,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "SERVER_SOFTWARE": "asgi",
        "REQUEST_METHOD": scope.get("method", "GET"),
        "PATH_INFO": scope["path"],
        "QUERY_STRING": query_string,
        "RAW_URI": raw_uri,
        "SCRIPT_NAME": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "0",
        "SERVER_NAME": "asgi",
        "SERVER_PORT": "0",
        "asgi.receive": receive,
        "asgi.send": send,
        "asgi.scope": scope,
    }

    for hdr_name, hdr_value in scope["headers"]:
        try:
            hdr_name = hdr_name.upper().decode("utf-8")
            hdr_value = hdr_value.decode("utf-8")
        except UnicodeDecodeError:
            # skip header if it cannot be decoded
            continue
        if hdr_name == "CONTENT-TYPE":
            environ["CONTENT_TYPE"] = hdr_value
            continue
        elif hdr_name == "CONTENT-LENGTH":
            environ["CONTENT_LENGTH"] = hdr_value
            continue

        key = f"HTTP_{hdr_name.replace('-', '_')}"
        if key in environ:
            hdr_value = f"{environ[key]},{hdr_value}"

        environ[key] = hdr_value

    environ["wsgi.url_scheme"] = environ.get("HTTP_X_FORWARDED_PROTO", "http")
    return environ
