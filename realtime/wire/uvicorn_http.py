"""Stands in for uvicorn 0.55.0's HTTP protocol while a connection's first bytes arrive
(`ConnectionStart`, given to uvicorn as its HTTP protocol by `roomcast serve`) and extends its
`HttpToolsProtocol.handle_websocket_upgrade` (`UpgradingHttpProtocol`, subclassed). Re-check on
upgrade: tests/canary/test_uvicorn.py, tests/canary/test_connection_start_fuzz.py.

Every WebSocket connection starts as an HTTP connection: uvicorn's HTTP protocol is made for it,
asks the socket for both addresses, parses the upgrade request with httptools, writes it out
again and hands those bytes to the WebSocket protocol, which reads them a second time, asks the
socket for the addresses again, and the HTTP protocol is dropped. `ConnectionStart` holds the
connection until its first bytes: when they are a whole upgrade request that
ws_handshake.read_upgrade takes from the client's own bytes (only where uvicorn's HTTP protocol
would upgrade it too, and handed over as it would hand it over), the WebSocket protocol gets the
connection and the request as read; anything else (plain HTTP, polling, a request in pieces or
with bytes after it, one read_upgrade leaves to websockets) goes with the same bytes to
`UpgradingHttpProtocol`, which then has the connection as if from its start.
(tests/canary/test_connection_start_fuzz.py compares the two on the bytes clients send.)

uvicorn's HTTP protocol's httptools parser holds the protocol's bound methods as callbacks and
the protocol holds the parser, a reference cycle that uvicorn breaks in `connection_lost`, which
an upgraded connection never calls on it. So the protocol, its parser, its request's headers
and, through them, the connection's transport stayed for the cycle collector to find (27 objects
a connection). Once the upgrade has been handed over, `UpgradingHttpProtocol` drops its parser,
as `connection_lost` does, and reference counting frees the rest at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from realtime.wire.uvicorn_protocol import SocketProtocol
from realtime.wire.ws_handshake import read_upgrade


class UpgradingHttpProtocol(HttpToolsProtocol):
    def handle_websocket_upgrade(self) -> None:
        super().handle_websocket_upgrade()
        self.parser = None  # type: ignore[assignment]


class ConnectionStart(asyncio.Protocol):
    """A connection until its first bytes have arrived: a whole WebSocket upgrade request
    read by ws_handshake.read_upgrade goes straight to the WebSocket protocol, anything else
    to `UpgradingHttpProtocol` with the same bytes."""

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.config = config
        self.server_state = server_state
        # uvicorn's set of open connections, which its shutdown closes: this one is in it too.
        self.connections: set[Any] = server_state.connections
        self.app_state = app_state
        self.loop = _loop
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self.transport = None

    def shutdown(self) -> None:  # uvicorn's shutdown: nothing was asked yet, nothing to answer
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        # Called once: the transport has another protocol from here on.
        transport = self.transport
        if transport is None:  # lost already
            return
        self.connections.discard(self)
        self.transport = None
        config, state = self.config, self.server_state
        ws: Any = config.ws_protocol_class
        # The WebSocket protocol offers permessage-deflate when the config asks for it.
        upgrade = (read_upgrade(data, extensions=bool(config.ws_per_message_deflate), raw=True)
                   if data.startswith(b"GET ") and data.endswith(b"\r\n\r\n") and ws is not None
                   and issubclass(ws, SocketProtocol) else None)
        if upgrade is not None:
            protocol: SocketProtocol = ws(config=config, server_state=state,
                                          app_state=self.app_state, _loop=self.loop)
            if protocol.takes_upgrades():
                protocol.connection_made(transport)
                transport.set_protocol(protocol)
                protocol.start(upgrade)
                return
        http = UpgradingHttpProtocol(config=config, server_state=state,
                                     app_state=self.app_state, _loop=self.loop)
        http.connection_made(transport)
        transport.set_protocol(http)
        http.data_received(data)
