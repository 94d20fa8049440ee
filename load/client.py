"""A lean Socket.IO client: one asyncio Protocol per connection, no task per connection.

Speaks Engine.IO v4 over WebSocket only (`/socket.io/?EIO=4&transport=websocket`), answers
pings, connects the default namespace with an auth payload, sends events and acks, and hands
received events to one callback with the time the bytes arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import quote, urlsplit

import orjson

from load import packets as p
from load.frames import (
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameParser,
    encode_frame,
    handshake_request,
)

EventHandler = Callable[["SioClient", str, list[Any], int], None]
Clock = Callable[[], int]


class ConnectFailed(Exception):
    """A connection attempt that did not end with a Socket.IO connect ack; `kind` names why."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


class SioClient(asyncio.Protocol):
    """One Socket.IO connection. `on_event(client, event, args, received_ns)` sees every event;
    `on_close(client, reason)` runs once when the connection ends for any reason."""

    def __init__(
        self, *, on_event: EventHandler | None = None,
        on_close: Callable[[SioClient, str], None] | None = None,
        clock: Clock = time.monotonic_ns, tag: Any = None,
    ) -> None:
        self.on_event = on_event
        self.on_close = on_close
        self.clock = clock
        self.tag = tag  # scenario state attached to this connection
        # What survives a reconnect: the rooms this client is in, each with the last offset it
        # processed there (0 where the server gives no offsets), and when it last reconnected
        # (a message sent before then that still arrives came by replay).
        self.rooms: dict[str, int] = {}
        # Per room, the epoch its offsets count in, where the server gives one (sent back
        # with `since`, so a room whose history was reset meanwhile is not taken as recovered).
        self.epochs: dict[str, str] = {}
        self.live_since_ns = 0
        # The socket id of the connection before this one (a rejoin names it as `previous`).
        self.previous_sid: str | None = None
        self.sid: str | None = None
        self._next_ack = 0
        self._received_ns = 0
        self.namespace = "/"
        self._lost: asyncio.Future[None] | None = None
        self._reset()

    def _reset(self) -> None:
        """Per-connection state: a client connects again, in place, once its connection ended."""
        self.previous_sid = self.sid or self.previous_sid
        self.sid = None
        self.eio: dict[str, Any] = {}
        self.closed_reason: str | None = None
        self._transport: asyncio.Transport | None = None
        self._http = bytearray()
        self._upgraded = False
        self._parser = FrameParser(self._on_message)
        self._ready: asyncio.Future[None] | None = None
        self._pending: dict[int, asyncio.Future[list[Any]]] = {}
        self._callbacks: dict[int, Callable[[list[Any]], None]] = {}

    # -- public API -------------------------------------------------------------------------

    async def connect(
        self, url: str, *, auth: dict[str, Any] | None = None, within: float = 10.0,
        path: str = "/socket.io/", namespace: str = "/", query: dict[str, str] | None = None,
    ) -> None:
        """Open the WebSocket, read the Engine.IO open packet, connect `namespace` (the
        default one unless given), with `query` added to the handshake's query string.
        A client whose connection ended may connect again: its `rooms` and `tag` stay."""
        if self._transport is not None:
            await self._let_go()
        self._reset()
        parts = urlsplit(url)
        secure = parts.scheme in ("https", "wss")
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if secure else 80)
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._lost = loop.create_future()
        self._auth = auth
        self.namespace = namespace
        extra = "".join(f"&{quote(str(k))}={quote(str(v))}" for k, v in (query or {}).items())
        self._request = handshake_request(
            parts.netloc or host, f"{path}?EIO=4&transport=websocket{extra}"
        )[0]
        try:
            async with asyncio.timeout(within):
                await loop.create_connection(
                    lambda: self, host, port, ssl=ssl.create_default_context() if secure else None
                )
                await self._ready
        except ConnectFailed:
            self.abort()
            raise
        except TimeoutError:
            self.abort()
            raise ConnectFailed("timeout", f"no connect ack within {within}s") from None
        except ConnectionRefusedError as exc:
            raise ConnectFailed("refused", str(exc)) from None
        except OSError as exc:
            self.abort()
            raise ConnectFailed("network", str(exc)) from None

    def emit(self, event: str, *args: Any) -> None:
        self._send(p.encode_event(event, *args, namespace=self.namespace))

    def emit_acked(
        self, event: str, *args: Any, on_ack: Callable[[list[Any]], None],
    ) -> None:
        """Emit with an ack id; `on_ack` gets the ack's arguments (never called if the
        connection ends first). Cheaper than `call` when nobody awaits the answer."""
        self._next_ack += 1
        self._callbacks[self._next_ack] = on_ack
        self._send(p.encode_event(event, *args, ack_id=self._next_ack,
                                  namespace=self.namespace))

    async def call(self, event: str, *args: Any, within: float = 10.0) -> list[Any]:
        """Emit with an ack id and wait for the ack's arguments."""
        self._next_ack += 1
        ack_id = self._next_ack
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending[ack_id] = future
        self._send(p.encode_event(event, *args, ack_id=ack_id, namespace=self.namespace))
        try:
            async with asyncio.timeout(within):
                return await future
        finally:
            self._pending.pop(ack_id, None)

    @property
    def connected(self) -> bool:
        return self.sid is not None and self.closed_reason is None

    def close(self) -> None:
        """Leave politely (Socket.IO disconnect, WebSocket close) and drop the transport."""
        if self._transport is not None and not self._transport.is_closing():
            if self.sid is not None:
                self._send(p.encode_disconnect(self.namespace))
            self._transport.write(encode_frame(b"\x03\xe8", OP_CLOSE))
            self._transport.close()
        self._finish("client_close")

    def abort(self) -> None:
        """Drop the TCP connection without a goodbye, like a lost network."""
        if self._transport is not None:
            self._transport.abort()
        self._finish("client_abort")

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses but offer the same API.
        self._transport = cast(asyncio.Transport, transport)
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        self._received_ns = self.clock()
        try:
            if self._upgraded:
                self._parser.feed(data)
            else:
                self._read_http(data)
        except Exception as exc:  # a malformed stream ends this connection, not the run
            self._fail("protocol", str(exc))
            if self._transport is not None:
                self._transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail("closed", "connection closed before the connect ack")
        self._finish("server_close" if exc is None else "network")
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    # -- internals --------------------------------------------------------------------------

    async def _let_go(self) -> None:
        """Before reusing this protocol object: drop the old transport and wait for its
        `connection_lost`, so no callback of the old connection lands in the new one."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.abort()
        if self._lost is not None and not self._lost.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await asyncio.shield(self._lost)

    def _send(self, packet: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError("not connected")
        self._transport.write(encode_frame(packet))

    def _read_http(self, data: bytes) -> None:
        self._http += data
        end = self._http.find(b"\r\n\r\n")
        if end < 0:
            return
        status_line = bytes(self._http[: self._http.find(b"\r\n")])
        rest = bytes(self._http[end + 4 :])
        self._http = bytearray()
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or parts[1] != b"101":
            code = parts[1].decode(errors="replace") if len(parts) > 1 else "?"
            self._fail(f"http_{code}", status_line.decode(errors="replace"))
            if self._transport is not None:
                self._transport.close()
            return
        self._upgraded = True
        if rest:
            self._parser.feed(rest)

    def _on_message(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_TEXT:
            self._on_eio(payload)
        elif opcode == OP_PING and self._transport is not None:
            self._transport.write(encode_frame(payload, OP_PONG))
        elif opcode == OP_CLOSE:
            self._fail("closed", "server closed the WebSocket")
            self._finish("server_close")
            if self._transport is not None:
                self._transport.close()

    def _on_eio(self, payload: bytes) -> None:
        # Fast path for the common case: an event without ack id in the default namespace.
        if payload[:3] == b'42[' and self.on_event is not None and self.namespace == "/":
            data = orjson.loads(payload[2:])
            if isinstance(data, list) and data:
                self.on_event(self, str(data[0]), data[1:], self._received_ns)
            return
        kind = payload[0] if payload else -1
        if kind == p.EIO_MESSAGE:
            self._on_sio(p.decode_sio(payload[1:]))
        elif kind == p.EIO_PING:
            if self._transport is not None:
                self._transport.write(encode_frame(p.PONG))
        elif kind == p.EIO_OPEN:
            self.eio = p.decode_open(payload)
            self._send(p.encode_connect(self._auth, self.namespace))
        elif kind == p.EIO_CLOSE:
            self._finish("server_disconnect")

    def _on_sio(self, packet: p.SioPacket) -> None:
        if packet.namespace != self.namespace:
            return
        if packet.type == p.SIO_EVENT:
            data = packet.data
            if isinstance(data, list) and data and self.on_event is not None:
                self.on_event(self, str(data[0]), data[1:], self._received_ns)
            if packet.ack_id is not None:
                self._send(p.encode_ack(packet.ack_id, namespace=self.namespace))
        elif packet.type == p.SIO_ACK:
            callback = self._callbacks.pop(packet.ack_id or 0, None)
            if callback is not None:
                callback(packet.data if isinstance(packet.data, list) else [])
                return
            future = self._pending.get(packet.ack_id or 0)
            if future is not None and not future.done():
                future.set_result(packet.data if isinstance(packet.data, list) else [])
        elif packet.type == p.SIO_CONNECT:
            self.sid = (packet.data or {}).get("sid", "")
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
        elif packet.type == p.SIO_CONNECT_ERROR:
            data = packet.data
            detail = data.get("message", "") if isinstance(data, dict) else str(data)
            extra = data.get("data") if isinstance(data, dict) else None
            if extra:
                detail = f"{detail} {extra}".strip()
            self._fail("connect_error", detail)
        elif packet.type == p.SIO_DISCONNECT:
            self._finish("server_disconnect")
            if self._transport is not None:
                self._transport.close()

    def _fail(self, kind: str, detail: str) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(ConnectFailed(kind, detail))

    def _finish(self, reason: str) -> None:
        if self.closed_reason is not None:
            return
        self.closed_reason = reason
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError(reason))
        if self.sid is not None and self.on_close is not None:
            with contextlib.suppress(Exception):
                self.on_close(self, reason)
