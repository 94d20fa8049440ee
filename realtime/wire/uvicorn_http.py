"""Extends uvicorn 0.55.0's `HttpToolsProtocol.handle_websocket_upgrade` (subclassed, given to
uvicorn as its HTTP protocol by `roomcast serve`). Re-check on upgrade:
tests/canary/test_uvicorn.py.

Every WebSocket connection starts as an HTTP connection: uvicorn's HTTP protocol parses the
upgrade request, hands the connection to the WebSocket protocol and is dropped. Its httptools
parser holds the protocol's bound methods as callbacks and the protocol holds the parser, a
reference cycle that uvicorn breaks in `connection_lost`, which an upgraded connection never
calls on it. So the protocol, its parser, its request's headers and, through them, the
connection's transport stayed for the cycle collector to find (27 objects a connection).
Once the upgrade has been handed over, `UpgradingHttpProtocol` drops its parser, as
`connection_lost` does, and reference counting frees the rest at once.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class UpgradingHttpProtocol(HttpToolsProtocol):
    def handle_websocket_upgrade(self) -> None:
        super().handle_websocket_upgrade()
        self.parser = None  # type: ignore[assignment]
