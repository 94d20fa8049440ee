"""How scenarios talk to a server: the generic contract any Socket.IO server can implement.

Generic contract (the baseline server in benchmarks/ implements it):
- connect with any auth (the `auth` payload is `{}` unless `--token` is given);
- emit `join` with a room name, the server puts the socket in that room and acks
  `{"ok": true, "room": ...}`;
- emit `broadcast` with `{"room": ..., "ts": ..., "seq": ..., "from": ...}`; the server emits
  `broadcast` with the same object to everyone else in that room.

The Roomcast contract lives in load/roomcast.py behind the same `Wire` interface.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from load.client import SioClient


class JoinFailed(Exception):
    """The server refused or did not confirm a room join."""


def entered(client: SioClient, room: str, ack: dict[str, Any]) -> dict[str, Any]:
    """Note a confirmed join on the client (kept across reconnects); returns the ack. A fresh
    join starts from the room's offset in the ack; a rejoin keeps the last offset processed."""
    client.rooms.setdefault(room, int(ack.get("offset") or 0))
    return ack


class Wire(Protocol):
    """The server-specific part of a scenario."""

    name: str
    delivery_event: str
    publisher_joins: bool  # whether a fanout publisher must be in the room to send into it
    offsets: bool  # whether stored events carry a per-room offset and `join` takes `since`

    def auth(self, index: int) -> dict[str, Any] | None: ...

    def room(self, index: int) -> str: ...

    async def join(
        self, client: SioClient, room: str, since: int | None = None,
    ) -> dict[str, Any]:
        """Join `room` (with `since`, to have what was missed replayed where the server
        can); the ack. Raises JoinFailed when refused."""
        ...

    def publish(
        self, client: SioClient, room: str, payload: dict[str, Any],
        on_error: Callable[[str], None], on_ok: Callable[[], None] | None = None,
    ) -> None:
        """Send `payload` into `room`; `on_ok` (when given) once the server confirmed it."""
        ...

    def payload_of(self, args: list[Any]) -> dict[str, Any] | None: ...

    def stored(self, args: list[Any]) -> tuple[str, int] | None:
        """The room and offset of a received stored event, None where there are none."""
        ...


class GenericWire:
    """The generic contract above."""

    name = "generic"
    delivery_event = "broadcast"
    publisher_joins = False
    offsets = False

    def __init__(self, *, token: str | None = None, room_prefix: str = "load") -> None:
        self._token = token
        self._prefix = room_prefix

    def auth(self, index: int) -> dict[str, Any] | None:
        return {"token": self._token} if self._token else {}

    def room(self, index: int) -> str:
        return f"{self._prefix}-{index}"

    async def join(
        self, client: SioClient, room: str, since: int | None = None,
    ) -> dict[str, Any]:
        # The generic contract has no history: `since` cannot be honoured.
        ack = await client.call("join", room)
        if not ack or not isinstance(ack[0], dict) or not ack[0].get("ok", True):
            raise JoinFailed(f"join {room} refused: {ack!r}")
        return entered(client, room, ack[0])

    def publish(
        self, client: SioClient, room: str, payload: dict[str, Any],
        on_error: Callable[[str], None], on_ok: Callable[[], None] | None = None,
    ) -> None:
        if on_ok is None:
            client.emit("broadcast", {"room": room, **payload})
            return

        def acked(args: list[Any]) -> None:
            ack = args[0] if args and isinstance(args[0], dict) else {}
            if ack.get("ok"):
                on_ok()
            else:
                on_error("broadcast:refused")

        # A server that confirms a broadcast acks it {"ok": true} once it is sent on (the
        # Node server in benchmarks/ does); one that does not never calls `on_ok`.
        client.emit_acked("broadcast", {"room": room, **payload}, on_ack=acked)

    def payload_of(self, args: list[Any]) -> dict[str, Any] | None:
        return args[0] if args and isinstance(args[0], dict) else None

    def stored(self, args: list[Any]) -> tuple[str, int] | None:
        return None
