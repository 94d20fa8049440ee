"""Stands in for python-socketio 5.18.1's `AsyncServer._send_packet` (every packet to one
socket: acks, the connect answer, one socket's events) and reads its `manager.rooms` table
(namespace -> room -> sid -> Engine.IO sid) for the fan-out. Also the one place that asks the
manager how a Socket.IO sid and its Engine.IO sid map to each other (`eio_sid_from_sid`,
`sid_from_eio_sid`, `is_connected`) and who is in a room (`get_participants`): undocumented
methods, so the rest of realtime/ goes through `engine_sid`, `connected_sid` and `participants`.

Why: a packet to one socket goes out through the direct write (engineio_driver.py) when that
is safe, instead of Engine.IO's queue and writer task; and a room's fan-out iterates the
manager's own table rather than keeping a copy of every membership.
Re-check on upgrade: tests/canary/test_socketio.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import socketio

from realtime.wire.engineio_driver import DirectWrites
from realtime.wire.frames import text_frame
from realtime.wire.ws_handshake import kept_scope

NAMESPACE = "/"


def room_members(sio: socketio.AsyncServer, room: str) -> dict[str, str] | None:
    """The room's members on this process, sid -> Engine.IO sid (None or empty: nobody)."""
    members: dict[str, str] | None = sio.manager.rooms.get(NAMESPACE, {}).get(room)
    return members


def engine_sid(sio: socketio.AsyncServer, sid: str) -> str | None:
    """The Engine.IO sid of a socket connected to the namespace (None once it is gone)."""
    eio_sid: str | None = sio.manager.eio_sid_from_sid(sid, NAMESPACE)
    return eio_sid


def connected_sid(sio: socketio.AsyncServer, eio_sid: str) -> str | None:
    """The Socket.IO sid on an Engine.IO socket whose CONNECT was accepted, else None."""
    manager = sio.manager
    sid: str | None = manager.sid_from_eio_sid(eio_sid, NAMESPACE)
    if sid is None or not manager.is_connected(sid, NAMESPACE):
        return None
    return sid


def participants(sio: socketio.AsyncServer, room: str) -> list[str]:
    """The sids in a room on this process, as a list (the room may change while it is used)."""
    return [sid for sid, _ in sio.manager.get_participants(NAMESPACE, room)]


async def handle_connect(sio: socketio.AsyncServer, eio_sid: str, auth: Any) -> None:
    """A CONNECT to the default namespace, answered by python-socketio's private
    `AsyncServer._handle_connect` (the connect handler, the CONNECT or CONNECT_ERROR packet):
    Roomcast reads the packet itself (realtime/packets.py) and hands on only this."""
    await sio._handle_connect(eio_sid, NAMESPACE, auth)


# What an Engine.IO socket's environ keeps (`DirectServer._handle_eio_connect`), with the ASGI
# scope's kept part (realtime/wire/ws_handshake.py).
KEPT_ENVIRON = ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "REMOTE_ADDR")


def kept_environ(environ: dict[str, Any]) -> dict[str, Any]:
    kept = {key: environ[key] for key in KEPT_ENVIRON if key in environ}
    if isinstance(environ.get("asgi.scope"), dict):
        kept["asgi.scope"] = kept_scope(environ["asgi.scope"])
    return kept


def room_names(sio: socketio.AsyncServer) -> Iterable[Any]:
    """Every room of the namespace on this process (Socket.IO's per-socket rooms included)."""
    rooms: dict[Any, Any] = sio.manager.rooms.get(NAMESPACE, {})
    return rooms.keys()


class DirectServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server, sending each text packet to one socket (acks, the connect
    answer, a single socket's events) through the same direct write when it is safe."""

    direct: DirectWrites | None = None
    on_direct: Any = None  # called with 1 for each packet written directly

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> None:
        """python-socketio keeps each Engine.IO socket's environ for its whole life (for
        `get_environ` and every CONNECT on it); Roomcast's connect handler reads only the
        client's address from it (realtime/connections.py). It keeps `kept_environ`, not the
        request's environ with its headers."""
        await super()._handle_eio_connect(eio_sid, kept_environ(environ))

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        if self.direct is not None:
            encoded = pkt.encode()
            if isinstance(encoded, str):
                await self.send_text(eio_sid, encoded)
                return
        await super()._send_packet(eio_sid, pkt)

    async def send_text(self, eio_sid: str, encoded: str) -> None:
        """Send one encoded Socket.IO text packet to one socket: written directly when it is
        safe, through Engine.IO's queue otherwise."""
        direct = self.direct
        socket = self.eio.sockets.get(eio_sid)
        if (direct is not None and socket is not None and not socket.closed
                and direct.write(socket, text_frame(encoded))):
            if self.on_direct is not None:
                self.on_direct(1)
            return
        await self.eio.send(eio_sid, encoded)
