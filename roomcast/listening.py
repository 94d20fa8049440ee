"""The listening socket of `roomcast serve`, opened before anything else.

A restarted server is unreachable from the moment the old process closes its listener until
the new one listens. A client whose attempt is refused in that window waits its backoff again
(Socket.IO's client doubles it each time: 1, 2, 4 s...), so a long refusal window turns into
a long herd. `roomcast serve` therefore binds and listens first, before it imports the server,
opens the store and starts the app: from then on the kernel completes the TCP handshakes and
queues the connections (up to `BACKLOG`), and their requests are answered as soon as the app
is ready, instead of being refused.
"""

from __future__ import annotations

import socket

from core.errors import ConfigError

# uvicorn's default; the kernel caps it at net.core.somaxconn.
BACKLOG = 2048


def listen(host: str, port: int, *, backlog: int = BACKLOG) -> socket.socket:
    """A TCP socket bound to (host, port) and listening; ConfigError when it cannot be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock
