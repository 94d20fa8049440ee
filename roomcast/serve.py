"""`roomcast serve`: one ASGI app under uvicorn."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry

from core.settings import Settings
from core.store.database import embedded_directory
from realtime.server import Realtime
from realtime.wire.uvicorn_server import PromptServer
from roomcast.bootstrap import ensure_first_admin
from roomcast.factory import build_services, create_asgi
from roomcast.heap import HeapKeeper
from roomcast.listening import BACKLOG, listen
from roomcast.takeover import mark_serving

log = logging.getLogger("roomcast")


def serve(settings: Settings, *, host: str | None = None, port: int | None = None,
          sock: socket.socket | None = None) -> int:
    """Serve until stopped; `sock` is a listening socket opened earlier (roomcast/listening.py),
    else one is opened on host and port now."""
    host = host or settings.host
    if sock is None:
        sock = listen(host, settings.port if port is None else port)
    port = sock.getsockname()[1]
    services = build_services(settings)
    if not settings.mongo_uri:
        # Left when the process ends: the lock, not this file, says whether it still runs.
        mark_serving(embedded_directory(settings))
    app = create_asgi(services)
    services.realtime.startup.append(lambda: _announce(settings, services, host, port))
    _keep_heap(services.realtime, services.ctx.extras.get("metrics_registry"))
    config = uvicorn.Config(
        app, host=host, port=port, backlog=BACKLOG, log_config=None, access_log=False,
        lifespan="on",
        http=_http_protocol(), ws=_ws_protocol(services.realtime.on_frame_too_large),
        ws_per_message_deflate=settings.socket_compression,
        # The frame limit, exactly: the WebSocket parser closes a larger message with 1009.
        ws_max_size=settings.socket_max_payload_bytes,
        # Engine.IO's own heartbeat (SOCKET_PING_INTERVAL/TIMEOUT) already finds dead peers;
        # uvicorn's WebSocket pings would add a timer per connection and a second ping.
        ws_ping_interval=None, ws_ping_timeout=None,
        timeout_graceful_shutdown=10,
        # X-Forwarded-For names the client only when it comes from a trusted proxy.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
    )
    server = _DrainingServer(config, services.realtime.drain, services.stop_accepting,
                             drain_budget=settings.socket_drain_seconds + 5)
    # run() picks the event loop from config.loop ("auto": uvloop when installed, as it is
    # with uvicorn[standard]); the fan-out path spends measurably less per delivery on it.
    server.run(sockets=[sock])
    return 0 if server.drained else 1


class _DrainingServer(PromptServer):
    """Shutting down in the order that loses nothing: out of rotation first (not ready, the
    listeners closed), then every socket told why and disconnected, then uvicorn closes what
    is left and the app stops, which writes pending Redis writes before it closes Redis. The
    signal and what is left are waited for without uvicorn's fixed pauses
    (realtime/wire/uvicorn_server.py)."""

    def __init__(self, config: uvicorn.Config, drain: Callable[[], Awaitable[None]] | None,
                 stop_accepting: Callable[[], None], *, drain_budget: float = 10.0):
        super().__init__(config)
        self._drain = drain
        self._stop_accepting = stop_accepting
        self._drain_budget = drain_budget
        self.drained = True  # False once a drain failed or ran out of time

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._stop_accepting()
        # uvicorn closes them again below; a client told to reconnect must not land here.
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        if self._drain is not None:
            try:
                await asyncio.wait_for(self._drain(), timeout=self._drain_budget)
            except Exception:
                self.drained = False
                log.exception("draining the socket connections failed")
        await super().shutdown(sockets)
        if self.drained:
            # uvicorn raises the signal it stopped for once it is done, so the process would
            # end by SIGTERM (status 143) however cleanly it stopped: a clean drain exits 0.
            self._captured_signals.clear()


def _http_protocol() -> Any:
    """A connection's first protocol: a WebSocket upgrade goes straight to the WebSocket
    protocol, anything else to uvicorn's httptools protocol, which lets an upgraded connection
    go without the cycle collector (realtime/wire/uvicorn_http.py)."""
    from realtime.wire.uvicorn_http import ConnectionStart

    return ConnectionStart


def _ws_protocol(on_too_large: Callable[[], None] | None) -> Any:
    """Roomcast's detachable WebSocket protocol (realtime/wire/uvicorn_protocol.py) on
    uvicorn's sans-I/O one."""
    from realtime.wire.uvicorn_protocol import SocketProtocol

    return SocketProtocol if on_too_large is None else SocketProtocol.counting(on_too_large)


def _keep_heap(realtime: Realtime, registry: CollectorRegistry | None) -> None:
    """Start-up's heap, and then what survives each full collection or arrives with new
    connections, out of the cycle collector's walk (roomcast/heap.py)."""
    hub = realtime.hub
    keeper = (HeapKeeper(lambda: 0, lambda: 0) if hub is None
              else HeapKeeper(lambda: hub.departed, lambda: len(hub.sessions),
                              stopping=lambda: hub.stopping))
    if registry is not None:
        keeper.register(registry)

    async def start() -> None:
        keeper.start()

    realtime.startup.append(start)
    realtime.shutdown.append(keeper.stop)


async def _announce(settings: Settings, services: object, host: str, port: int) -> None:
    from roomcast.factory import Services

    assert isinstance(services, Services)
    ctx = services.ctx
    admin = await ensure_first_admin(settings, ctx.stores, ctx.passwords)
    url = settings.public_url or f"http://{host}:{port}"
    lines = [f"Roomcast is serving on {url}  (REST {url}/api/v1, docs {url}/api/v1/docs)",
             f"Open {url}/ in a browser for the web app"]
    if admin is not None and admin.password is not None:
        lines.append(f"Sign in as {admin.email} with password {admin.password} "
                     "(generated now; set ROOMCAST_ADMIN_EMAIL/ROOMCAST_ADMIN_PASSWORD to choose)")
    elif admin is not None:
        lines.append(f"Sign in as {admin.email} (from ROOMCAST_ADMIN_EMAIL)")
    for line in lines:
        print(line, flush=True)
