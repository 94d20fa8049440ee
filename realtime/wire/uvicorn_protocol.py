"""Stands in for uvicorn 0.55.0's `WebSocketsSansIOProtocol` (subclassed; `run_asgi` and
`send_receive_event_to_app` copied and changed, `shutdown` extended, the transport swapped
for `TurnWrites`) and reads websockets 17.4's parser state (`ServerProtocol.parser`, a
generator, through its code object's name `at_eof`); answers the opening handshake with
realtime/wire/ws_handshake.py (`handle_connect`'s scope and `send`'s `websocket.accept` copied,
websockets' `ServerProtocol` set as its `accept` and `send_response` set it). Re-check on upgrade:
tests/canary/test_uvicorn.py, tests/canary/test_websockets.py,
tests/canary/test_handshake_fuzz.py.

Roomcast's WebSocket transport: uvicorn's sans-I/O WebSocket protocol, detachable from ASGI.

Under ASGI a WebSocket connection is a task that lives as long as the connection: uvicorn's
`run_asgi` awaits the application, which awaits each incoming message from an `asyncio.Queue`
(and uvicorn pauses reading after every message until it is taken). For an Engine.IO socket
that task holds a chain of a dozen coroutine frames for hours and costs a queue hop per
message.

`SocketProtocol` is uvicorn's protocol (same handshake, frame parser, close handshake and flow
control) with one addition: once the application has accepted the connection it may *detach*
it, giving three callbacks: `on_message` (each complete text or binary message, called from
`data_received`), `on_writable` (the transport's buffer drained) and `on_lost` (the connection
ended). When the application then returns, the connection stays open and the task ends; the
Engine.IO socket (`realtime/wire/engineio_socket.py`) drives it from these callbacks. A
connection that is not detached behaves exactly as under uvicorn's own protocol.

The opening handshake is read once: uvicorn's HTTP protocol has parsed the upgrade request and
hands it over written out again; `_upgrade` reads those bytes with ws_handshake.py and starts
the application, and `send` writes the 101 response, instead of websockets parsing the request
a second time with its generator-based reader and building its `Headers` and `Response`. A
request that websockets might refuse or negotiate (permessage-deflate) goes to websockets as
before, so every refusal keeps its status code and text.

A detached connection's writes are joined per loop turn (`TurnWrites`): every frame written to
it while the loop runs its ready callbacks (a room's messages handled in that turn, the acks
of a stored group) goes to the kernel in one `write` at the start of the next turn, in the
order written. On loopback and on a LAN most of a small frame's cost is the send itself (the
system call, the TCP segment, waking the reader), so a socket receiving several frames a turn
pays it once.

A detached connection's incoming frames are read here too (`_read_frames`): an unfragmented
text frame, which is nearly every Socket.IO packet a client sends, is unmasked and handed to
`on_message` without websockets' generator-based parser, uvicorn's event handlers and their
per-frame objects. Every other frame (binary, fragments, ping, pong, close, one that is too
large or unmasked) goes whole to websockets' parser, which therefore never holds part of a
frame and keeps the protocol's rules, replies and close codes; bytes of an incomplete frame
wait for the rest.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.utils import (
    ClientDisconnected,
    get_client_addr,
    get_path_with_query_string,
)
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import CloseCode
from websockets.protocol import Protocol, State
from websockets.speedups import apply_mask

from realtime.wire.asyncio_queue import lean_event
from realtime.wire.frames import MASKED, TEXT_FIN, frame_header
from realtime.wire.ws_handshake import Upgrade, kept_scope, read_upgrade, scope, switching


class _Discard:
    """Stands in for the ASGI receive queue of a detached connection: nobody reads it."""

    __slots__ = ()

    def put_nowait(self, item: Any) -> None:
        return None


_DISCARD = _Discard()

log = logging.getLogger("roomcast.realtime")


class _Turn:
    """The connections with writes waiting in one event loop, flushed once per turn."""

    __slots__ = ("loop", "scheduled", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: list[TurnWrites] = []
        self.scheduled = False

    def add(self, writes: TurnWrites) -> None:
        self.waiting.append(writes)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.scheduled = False
        waiting, self.waiting = self.waiting, []
        for writes in waiting:
            try:
                writes.flush()
            except Exception:  # one broken connection must not hold back the others
                log.exception("writing to a WebSocket connection failed")


_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turn] = (
    weakref.WeakKeyDictionary())


def _turn(loop: asyncio.AbstractEventLoop) -> _Turn:
    turn = _turns.get(loop)
    if turn is None:
        turn = _turns[loop] = _Turn(loop)
    return turn


class TurnWrites:
    """A connection's transport whose writes in one loop turn go out as one, in order.

    It stands in for the transport itself, so every write to the connection (frames written
    directly, Engine.IO's queued packets, the protocol's own control frames) takes the same
    line. `close` sends what is waiting first; `abort` drops it, as the transport's own would.
    """

    __slots__ = ("_eof", "_out", "_turn", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._out: list[bytes] | None = None
        self._turn = _turn(loop)
        self._eof = False

    def write(self, data: bytes) -> None:
        if self._eof:  # our end of the stream is closed: nothing more goes out
            return
        out = self._out
        if out is not None:
            out.append(data)
            return
        self._out = [data]
        self._turn.add(self)

    def flush(self) -> None:
        out, self._out = self._out, None
        if out and not self._eof and not self.transport.is_closing():
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    def waiting(self) -> int:
        """Bytes written but not yet handed to the transport."""
        return sum(map(len, self._out)) if self._out else 0

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def write_eof(self) -> None:
        """Send what is waiting, then end our half of the stream (the peer may still send)."""
        self.flush()
        if not self._eof and self.transport.can_write_eof() and not self.transport.is_closing():
            self.transport.write_eof()
        self._eof = True

    def abort(self) -> None:
        self._out = None
        self.transport.abort()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def get_write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size() + self.waiting()

    def __getattr__(self, name: str) -> Any:  # pause_reading, get_extra_info and the rest
        return getattr(self.transport, name)


def _waits_for_a_frame(conn: Any) -> bool:
    """websockets' parser holds nothing: no bytes buffered, no fragmented message under way,
    and it waits at the start of a frame (not between a header it read and its payload)."""
    waiting: Any = getattr(conn, "parser", None)  # a generator: follow its `yield from` chain
    while getattr(waiting, "gi_yieldfrom", None) is not None:
        waiting = waiting.gi_yieldfrom
    return (not conn.reader.buffer and conn.current_size is None
            and getattr(getattr(waiting, "gi_code", None), "co_name", None) == "at_eof")


class SocketProtocol(WebSocketsSansIOProtocol):
    on_message: Callable[[str | bytes], None] | None = None
    on_writable: Callable[[], None] | None = None
    on_lost: Callable[[], None] | None = None
    detached = False
    reads_frames = False  # frames are read by _read_frames (detached, no extensions)
    _held = b""  # the start of a frame that is not complete yet
    _parser_failed = False
    _accept: bytes | None = None  # the Sec-WebSocket-Accept of a request read by _upgrade

    @classmethod
    def counting(cls, on_too_large: Callable[[], None]) -> type[SocketProtocol]:
        """This protocol, reporting each connection closed for a message too large."""
        return type(cls.__name__, (cls,), {"frame_too_large": lambda self: on_too_large()})

    def frame_too_large(self) -> None:
        """A message over uvicorn's ws_max_size (SOCKET_MAX_PAYLOAD_BYTES under `roomcast
        serve`) arrived; the frame parser, which checks the size, closes with 1009."""

    def detach(self, *, on_message: Callable[[str | bytes], None],
               on_writable: Callable[[], None], on_lost: Callable[[], None]) -> None:
        """Hand the accepted connection to callbacks; the ASGI application may return."""
        self.detached = True
        self.on_message, self.on_writable, self.on_lost = on_message, on_writable, on_lost
        self.queue = _DISCARD  # type: ignore[assignment]
        # What the connection keeps for its life: the scope's logged part, not the request's
        # headers; `writable`'s waiter line as a list (realtime/wire/asyncio_queue.py).
        self.scope = kept_scope(self.scope)  # type: ignore[arg-type, assignment]
        lean_event(self.writable)
        if not isinstance(self.transport, TurnWrites):
            self.transport = TurnWrites(self.transport, self.loop)  # type: ignore[assignment]
        self.reads_frames = not self.conn.extensions and _waits_for_a_frame(self.conn)
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if not self.reads_frames:
            if self.handshake_initiated or self.handshake_complete or not self._upgrade(data):
                super().data_received(data)
            return
        if self._held:
            data, self._held = self._held + data, b""
        self._read_frames(data)

    def _upgrade(self, data: bytes) -> bool:
        """Start the application on an upgrade request websockets would accept as it is
        (realtime/wire/ws_handshake.py), without its reader; False leaves it to websockets."""
        if not self.takes_upgrades():
            return False
        upgrade = read_upgrade(data, extensions=bool(self.conn.available_extensions))
        if upgrade is None:
            return False
        self.start(upgrade)
        return True

    def takes_upgrades(self) -> bool:
        """Whether `start` may be given a request read by ws_handshake.read_upgrade: not while
        websockets logs at DEBUG (its reader logs the request) or once it has read bytes."""
        conn = self.conn
        return not conn.debug and conn.state is State.CONNECTING and not conn.reader.buffer

    def start(self, upgrade: Upgrade) -> None:
        """Start the application on an upgrade request read by ws_handshake.read_upgrade, as
        websockets and uvicorn's handle_connect would once they have read it."""
        conn = self.conn
        # Where websockets' ServerProtocol.parse goes once it has read the request (the frames'
        # parser, `super().parse()`), and what its accept records.
        conn.parser = Protocol.parse(conn)
        next(conn.parser)
        conn.accept_called = True
        conn.origin = upgrade.origin  # type: ignore[assignment]
        self._accept = upgrade.accept
        self.handshake_initiated = True
        # As uvicorn's handle_connect from here on.
        self.scope = scope(self, upgrade)  # type: ignore[assignment]
        self.queue.put_nowait({"type": "websocket.connect"})
        task = self.loop.create_task(self.run_asgi())
        task.add_done_callback(self.on_task_complete)
        self.tasks.add(task)

    async def send(self, message: Any) -> None:
        accept = self._accept
        if (accept is None or message["type"] != "websocket.accept" or self.handshake_complete
                or self.initial_response is not None):
            await super().send(message)
            return
        # uvicorn's `websocket.accept`, with the response written by ws_handshake.switching.
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected()
        # uvicorn's and websockets' INFO lines for an accepted socket are kept at DEBUG only
        # (roomcast/logs.py: roomcast.access logs the socket): not even made above it.
        debug = self.logger.isEnabledFor(logging.DEBUG)
        if debug:
            self.logger.info('%s - "WebSocket %s" [accepted]', get_client_addr(self.scope),
                             get_path_with_query_string(self.scope))
        response = switching(accept, self.default_headers, message)
        if not self.transport.is_closing():
            self.handshake_complete = True
            self._accept = None
            self.conn.state = State.OPEN  # as websockets' send_response for a 101
            if debug:
                self.conn.logger.info("connection open")
            # From here on the connection's writes are joined per loop turn: the response
            # goes out with the Engine.IO OPEN packet written in the same turn, one write.
            if not isinstance(self.transport, TurnWrites):
                self.transport = TurnWrites(self.transport, self.loop)  # type: ignore[assignment]
            self.transport.write(response)
            self.start_keepalive()

    def _read_frames(self, data: bytes) -> None:
        conn = self.conn
        limit = conn.max_message_size
        size, start = len(data), 0
        while size - start >= 2:
            if self.close_sent or self.on_message is None or conn.state is not State.OPEN:
                self._stop_reading(data[start:])  # closing: websockets' parser takes over
                return
            header = frame_header(data, start)
            if header is None:
                break
            length, head = header
            if not data[start + 1] & MASKED or (limit is not None and length > limit):
                self._stop_reading(data[start:])  # refused from its header: 1002 or 1009
                return
            end = head + 4 + length
            if end > size:
                break
            if data[start] == TEXT_FIN and conn.current_size is None:
                try:
                    text = apply_mask(data[head + 4:end], data[head:head + 4]).decode()
                except UnicodeDecodeError:
                    self.reads_frames = False
                    self._refuse_text()
                    return
                self.on_message(text)
            else:
                super().data_received(data[start:end])  # one whole frame
            start = end
        if start < size:
            self._held = data[start:]

    def _stop_reading(self, rest: bytes) -> None:
        self.reads_frames = False
        if rest:
            super().data_received(rest)

    def send_receive_event_to_app(self) -> None:
        handler = self.on_message
        if handler is None:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:  # past our close frame: only the peer's close reply matters
            return
        if self.curr_msg_data_type == "text":
            try:
                text = bytes(data).decode()
            except UnicodeDecodeError:
                self._refuse_text()
                return
            handler(text)
        else:
            handler(bytes(data))

    def _refuse_text(self) -> None:
        """A text message that is not UTF-8: close with 1007, as the parser closes for its own."""
        self.conn.send_close(CloseCode.INVALID_DATA)
        self.handle_parser_exception()

    def handle_parser_exception(self) -> None:
        # websockets keeps its parser_exc once set, so uvicorn's data_received lands here again
        # for every later read while the peer's remaining bytes are drained: handled once.
        if self._parser_failed:
            return
        self._parser_failed = True
        closing = self.conn.close_sent
        if closing is not None and closing.code == CloseCode.MESSAGE_TOO_BIG:
            self.frame_too_large()
        if not self.detached:
            super().handle_parser_exception()
            return
        # The close frame, then our end of the stream (as websockets' `fail` asks); what the
        # peer still sends is read and dropped until it hangs up or close_timeout passes.
        # Closing at once with its bytes unread would make the kernel reset the connection,
        # and the peer might never read the close frame and its code.
        transport = self.transport
        transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if isinstance(transport, TurnWrites):
            transport.write_eof()
        if self.close_timer is None:
            self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.on_writable is not None:
            self.on_writable()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        lost, self.on_lost = self.on_lost, None
        self.on_message = self.on_writable = None
        if lost is not None:
            lost()

    def shutdown(self) -> None:
        # uvicorn's shutdown sends a close frame (1012) unless `close_sent`; but its
        # `handle_close` answers a close the peer started without setting it, and until that
        # connection is lost websockets, in CLOSING, refuses a second close frame with
        # InvalidState, which stopped the server's shutdown midway. Such a connection has
        # nothing left to say: it is only closed.
        if not self.close_sent and self.conn.state in (State.CLOSING, State.CLOSED):
            self.close_sent = True
        super().shutdown()

    def close_frame(self, code: int = 1000) -> None:
        """Start the closing handshake, as uvicorn does for `websocket.close`."""
        if self.close_sent or self.transport.is_closing():
            return
        self.conn.send_close(code, "")
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)

    async def run_asgi(self) -> None:
        result = None
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if self.detached:
                return  # the connection lives on in its callbacks
            if not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
                self.send_500_response()
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.",
                                  result)
        if self.close_timer is None:
            self.transport.close()
