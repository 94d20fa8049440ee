"""An upgraded connection's HTTP protocol, or the protocol that read its first bytes, is let go by
reference counting, not left in a cycle for the collector; a connection that never sent a byte
is forgotten when lost and closed by a shutdown (realtime/wire/uvicorn_http.py)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from realtime.wire.uvicorn_http import ConnectionStart, UpgradingHttpProtocol
from realtime.wire.uvicorn_protocol import SocketProtocol

REQUEST = (b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


class Transport:
    """The connection: what uvicorn's protocols ask of it during an upgrade."""

    def __init__(self) -> None:
        self.protocol: Any = None
        self.written: list[bytes] = []
        self.closed = False

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name)


@pytest.fixture
def no_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def upgrade(cls: type[HttpToolsProtocol]) -> tuple[weakref.ref[Any], Transport]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})

    config = Config(app=app, ws=SocketProtocol, ws_ping_interval=None, ws_ping_timeout=None,
                    log_config=None)
    config.load()
    state = ServerState()
    http = cls(config=config, server_state=state, app_state={})
    transport = Transport()
    http.connection_made(transport)  # type: ignore[arg-type]
    http.data_received(REQUEST)
    for task in list(state.tasks):
        await task
    gone = weakref.ref(http)
    del http
    return gone, transport


@pytest.mark.usefixtures("no_collector")
async def test_the_http_protocol_goes_once_the_websocket_has_the_connection() -> None:
    gone, transport = await upgrade(UpgradingHttpProtocol)
    assert isinstance(transport.protocol, SocketProtocol)
    assert transport.written[0].startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert gone() is None


@pytest.mark.usefixtures("no_collector")
async def test_uvicorns_own_leaves_it_in_a_cycle() -> None:
    # What UpgradingHttpProtocol is for: without it the protocol waits for the collector.
    gone, _ = await upgrade(HttpToolsProtocol)
    assert gone() is not None
    gc.collect()
    assert gone() is None


def start(state: ServerState) -> tuple[ConnectionStart, Transport]:
    config = Config(app=None, ws=SocketProtocol, ws_ping_interval=None, ws_ping_timeout=None,
                    log_config=None)
    config.load()
    first = ConnectionStart(config=config, server_state=state, app_state={})
    transport = Transport()
    first.connection_made(transport)  # type: ignore[arg-type]
    return first, transport


@pytest.mark.usefixtures("no_collector")
async def test_a_connection_start_goes_once_the_websocket_has_the_connection() -> None:
    state = ServerState()
    first, transport = start(state)
    assert state.connections == {first}
    first.data_received(REQUEST)
    assert isinstance(transport.protocol, SocketProtocol)
    assert state.connections == {transport.protocol}
    gone = weakref.ref(first)
    del first
    assert gone() is None


async def test_a_connection_lost_before_its_first_bytes_is_forgotten() -> None:
    state = ServerState()
    first, transport = start(state)
    first.connection_lost(None)
    assert not state.connections
    first.shutdown()  # nothing left to close
    assert not transport.closed


async def test_a_shutdown_before_the_first_bytes_closes_the_connection() -> None:
    state = ServerState()
    first, transport = start(state)
    first.shutdown()
    assert transport.closed
    first.connection_lost(None)
    assert not state.connections
