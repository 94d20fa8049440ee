"""A server stopping while a WebSocket's peer is closing it: SocketProtocol.shutdown closes the
connection without a second close frame (websockets refuses one, and the refusal stopped the
server's shutdown midway, leaving the other connections open and the lifespan's shutdown, with
its pending writes, unrun)."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState
from websockets.frames import Close
from websockets.protocol import State

from realtime.wire.frames import CLOSE, encode_frame
from realtime.wire.uvicorn_protocol import SocketProtocol
from tests.support.wire import RecordingTransport

UPGRADE = (b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
           b"Connection: Upgrade\r\nUpgrade: websocket\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def close_frames(written: list[bytes]) -> list[bytes]:
    """The close frames among what the server wrote after its 101 response."""
    out = b"".join(written)
    out = out[out.index(b"\r\n\r\n") + 4:]
    frames = []
    while out:
        length = out[1] & 0x7F
        head = 2 if length < 126 else 4
        length = length if length < 126 else int.from_bytes(out[2:4], "big")
        if out[0] & 0x0F == CLOSE:
            frames.append(out[head:head + length])
        out = out[head + length:]
    return frames


async def accepted(transport: RecordingTransport) -> SocketProtocol:
    config = Config(app=None, ws_ping_interval=None, ws_ping_timeout=None, log_config=None)
    config.load()
    state = ServerState()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()  # the disconnect

    protocol = SocketProtocol(config=config, server_state=state, app_state={})
    protocol.app = app
    protocol.connection_made(transport)  # type: ignore[arg-type]
    protocol.data_received(UPGRADE)
    for _ in range(10):
        await asyncio.sleep(0)
    assert protocol.handshake_complete and protocol.conn.state is State.OPEN
    return protocol


async def test_a_stop_after_the_peer_started_closing_closes_without_a_second_close() -> None:
    transport = RecordingTransport()
    protocol = await accepted(transport)
    protocol.data_received(encode_frame(CLOSE, Close(1000, "bye").serialize(), mask=b"abcd"))
    assert protocol.conn.state is State.CLOSING and transport.closed
    assert close_frames(transport.written) == [Close(1000, "bye").serialize()]

    protocol.shutdown()  # before the loop ran connection_lost: raised InvalidState

    assert transport.closed
    assert close_frames(transport.written) == [Close(1000, "bye").serialize()]


async def test_a_stop_of_an_open_connection_still_sends_going_away() -> None:
    transport = RecordingTransport()
    protocol = await accepted(transport)
    protocol.shutdown()
    assert transport.closed
    assert close_frames(transport.written) == [Close(1012, "").serialize()]
