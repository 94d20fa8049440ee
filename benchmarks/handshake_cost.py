"""CPU of a WebSocket opening handshake in the WebSocket protocol alone: uvicorn's own
sans-I/O protocol over websockets against Roomcast's `SocketProtocol`
(realtime/wire/uvicorn_protocol.py with realtime/wire/ws_handshake.py), in one process; and
of python-engineio's ASGI `translate_request` (the scope made a WSGI-like environ) against
Roomcast's for a WebSocket (realtime/wire/engineio_driver.py).

    python benchmarks/handshake_cost.py --rounds 20000

Each handshake is what uvicorn's HTTP protocol hands over after parsing an upgrade: the
protocol is made, given a transport and the request's bytes; the application it starts reads
`websocket.connect` and sends `websocket.accept`, and the 101 response is written. The HTTP
parsing before, Engine.IO and Socket.IO after are the same for both and not counted. CPU is
`time.process_time()` over the rounds (the best of --repeat), per handshake, on uvloop.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvloop
from engineio.async_drivers.asgi import translate_request
from inprocess import measure_options
from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import (
    WebSocketsSansIOProtocol,
)
from uvicorn.server import ServerState

from realtime.wire.engineio_driver import _translate_request
from realtime.wire.uvicorn_protocol import SocketProtocol

# The load tool's request as uvicorn's HTTP protocol writes it out again (names in lower case).
REQUEST = (b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nhost: 127.0.0.1:8000\r\n"
           b"upgrade: websocket\r\nconnection: Upgrade\r\n"
           b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n")


class Transport:
    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += 1

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:  # the application returned: uvicorn closes the connection
        return None

    def get_extra_info(self, name: str) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name)


async def app(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.accept"})


async def handshakes(cls: type[WebSocketsSansIOProtocol], rounds: int) -> float:
    config = Config(app=app, ws_ping_interval=None, ws_ping_timeout=None, log_config=None,
                    access_log=False)
    config.load()
    state = ServerState()
    state.default_headers = [(b"date", b"Sun, 06 Dec 2026 12:00:00 GMT"),
                             *config.encoded_headers]
    started = time.process_time()
    for _ in range(rounds):
        protocol = cls(config=config, server_state=state, app_state={})
        protocol.app = app
        transport = Transport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        protocol.data_received(REQUEST)
        for task in list(state.tasks):
            await task
        assert transport.written == 1 and protocol.handshake_complete
    return (time.process_time() - started) / rounds


async def translations(translate: Any, rounds: int) -> float:
    scope = {"type": "websocket", "path": "/socket.io/",
             "query_string": b"EIO=4&transport=websocket",
             "headers": [tuple(line.split(b": ")) for line in REQUEST.split(b"\r\n")[1:-2]]}

    async def receive() -> dict[str, str]:
        return {"type": "websocket.connect"}

    started = time.process_time()
    for _ in range(rounds):
        await translate(scope, receive, None)
    return (time.process_time() - started) / rounds


def main() -> None:
    rounds, repeat = measure_options(__doc__, "handshakes")
    for name, cls in (("uvicorn + websockets", WebSocketsSansIOProtocol),
                      ("Roomcast SocketProtocol", SocketProtocol)):
        best = min(uvloop.run(handshakes(cls, rounds)) for _ in range(repeat))
        print(f"{name:24} {best * 1e6:6.1f} us of CPU per handshake")
    for name, translate in (("python-engineio", translate_request),
                            ("Roomcast", _translate_request)):
        best = min(uvloop.run(translations(translate, rounds)) for _ in range(repeat))
        print(f"{name:24} {best * 1e6:6.1f} us of CPU per environ (translate_request)")


if __name__ == "__main__":
    main()
