"""The answer to a long-polling request where long-polling is not served.

Where polling is off (with `REDIS_URL` unless `SOCKET_ALLOW_POLLING=true`, anywhere with
`SOCKET_ALLOW_POLLING=false`), python-engineio would answer the official client's first request
(`GET /socket.io/?EIO=4&transport=polling`) with a bare 400 "Invalid transport", which the
client reports as "xhr poll error" and nothing more. This answers it instead with a 400 whose
JSON body says why and what to do, shaped like the `data` of a refused CONNECT
(`{code, message}`): the client's `connect_error` carries it in `err.context.responseText`
(`err.description` is the status). docs/protocol.md, "Transport".

WebSocket requests, CORS preflights and everything outside the Socket.IO path pass through.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from urllib.parse import parse_qs

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from realtime.contract import ERR_POLLING_DISABLED

REFUSAL = {
    "code": ERR_POLLING_DISABLED,
    "message": "long-polling is not served by this deployment: connect with "
               "transports: [\"websocket\"] (or tryAllTransports: true)",
}


def is_polling(scope: Scope, path: str) -> bool:
    """An HTTP request of Engine.IO's polling transport (the transport Engine.IO assumes when
    the query names none), preflights aside."""
    if scope["type"] != "http" or scope["method"] == "OPTIONS":
        return False
    if not str(scope["path"]).startswith(path):
        return False
    query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
    return query.get("transport", ["polling"])[0] == "polling"


class PollingRefusal:
    """Refuses long-polling with `polling_disabled` in front of the Socket.IO app."""

    def __init__(self, app: ASGIApp, *, cors_origins: Sequence[str],
                 on_refused: Callable[[], None] | None = None,
                 path: str = "/socket.io/") -> None:
        self._app = app
        self._on_refused = on_refused
        self._path = path
        self._cors_origins = frozenset(cors_origins)
        self._body = orjson.dumps(REFUSAL)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_polling(scope, self._path):
            await self._app(scope, receive, send)
            return
        if self._on_refused is not None:
            self._on_refused()
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(self._body)).encode()),
                   (b"cache-control", b"no-store")]
        headers += self._cors(scope)
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": self._body})

    def _cors(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        """The headers Engine.IO would add for an allowed origin, so a browser on another
        allowed origin can read the reason too."""
        origin = dict(scope.get("headers", ())).get(b"origin")
        if origin is None:
            return []
        if origin.decode("latin-1") in self._cors_origins or "*" in self._cors_origins:
            return [(b"access-control-allow-origin", origin),
                    (b"access-control-allow-credentials", b"true")]
        return []
