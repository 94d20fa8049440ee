"""A connection's transport for tests that drive uvicorn's and Roomcast's WebSocket protocols
directly: what they write, and whether they closed it (the loop never runs their
`connection_lost`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState
from websockets.protocol import State

from realtime.wire.uvicorn_protocol import SocketProtocol

UPGRADE = (b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
           b"Connection: Upgrade\r\nUpgrade: websocket\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")

App = Callable[[Any, Any, Any], Awaitable[None]]


class RecordingTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    abort = close

    def pause_reading(self) -> None:
        return None

    resume_reading = pause_reading

    def get_extra_info(self, name: str) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name)


async def _accepting(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    await receive()  # the disconnect


async def accepted(transport: RecordingTransport, app: App = _accepting) -> SocketProtocol:
    """A SocketProtocol on `transport` that read UPGRADE and ran `app` (by default one that
    accepts and waits for the disconnect) until the connection is open."""
    config = Config(app=None, ws_ping_interval=None, ws_ping_timeout=None, log_config=None)
    config.load()
    protocol = SocketProtocol(config=config, server_state=ServerState(), app_state={})
    protocol.app = app
    protocol.connection_made(transport)  # type: ignore[arg-type]
    protocol.data_received(UPGRADE)
    for _ in range(10):
        await asyncio.sleep(0)
    assert protocol.handshake_complete and protocol.conn.state is State.OPEN
    return protocol


async def turns() -> None:
    """A few turns of the loop: what the protocols scheduled has run."""
    for _ in range(5):
        await asyncio.sleep(0)


async def settle(state: ServerState) -> None:
    """Every application task the protocols started has ended."""
    await turns()
    while state.tasks:
        done, _ = await asyncio.wait(list(state.tasks), timeout=5)
        assert done, "the application did not finish"
        await turns()
