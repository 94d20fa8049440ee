"""Client events read straight off a WebSocket, without python-socketio's per-packet path.

python-socketio handles each incoming EVENT through two background tasks (Engine.IO's message
handler, then the Socket.IO event handler), a packet object decoded twice, and a handler lookup
per event. Every Roomcast event goes to one catch-all dispatcher (`Connections.dispatch`), so
an EVENT for the default namespace is parsed here once and dispatched in one task; its ack is
framed once and written through the direct path.

Anything else (CONNECT, DISCONNECT, ACK, binary packets, other namespaces, a socket that is
not connected yet or is disconnecting, a packet this parser does not recognise) takes
python-socketio's own path, which also answers malformed packets as it always has.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

log = logging.getLogger("roomcast.realtime")

Dispatch = Callable[..., Awaitable[Any]]
SendText = Callable[[str, str], Awaitable[None]]

MAX_ID_DIGITS = 18  # python-socketio refuses ids of 100 digits; ours stay within an int64


def parse_event(text: str) -> tuple[int | None, list[Any]] | None:
    """`2[id][json array]` for the default namespace: (ack id, [event, *args]), else None."""
    end = len(text)
    if end < 3 or text[0] != "2":
        return None
    i = 1
    while i < end and "0" <= text[i] <= "9":
        i += 1
    if i >= end or text[i] != "[" or i - 1 > MAX_ID_DIGITS:
        return None
    try:
        data = orjson.loads(text[i:])
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        return None
    return (int(text[1:i]) if i > 1 else None), data


def ack_text(ack_id: int, result: Any) -> str:
    """The Socket.IO ACK packet answering `ack_id` with one argument."""
    return "3" + str(ack_id) + orjson.dumps([result]).decode()


class InboundEvents:
    """Called by each WebSocket's Engine.IO socket with every Socket.IO packet it receives;
    returns False for a packet python-socketio must handle itself."""

    def __init__(self, manager: Any, dispatch: Dispatch, send_text: SendText) -> None:
        self._manager = manager
        self._dispatch = dispatch
        self._send_text = send_text
        # Hold references so running handlers aren't garbage-collected mid-run.
        self._running: set[asyncio.Task[None]] = set()

    def __call__(self, eio_sid: str, text: str) -> bool:
        parsed = parse_event(text)
        if parsed is None:
            return False
        manager = self._manager
        sid = manager.sid_from_eio_sid(eio_sid, "/")
        if sid is None or not manager.is_connected(sid, "/"):
            return False
        ack_id, data = parsed
        task = asyncio.get_running_loop().create_task(self._run(sid, eio_sid, ack_id, data))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return True

    async def _run(self, sid: str, eio_sid: str, ack_id: int | None, data: list[Any]) -> None:
        try:
            result = await self._dispatch(data[0], sid, *data[1:])
            if ack_id is not None:
                await self._send_text(eio_sid, ack_text(ack_id, result))
        except asyncio.CancelledError:
            raise
        except Exception:
            # The dispatcher answers every handler error itself; this is a failed send.
            log.exception("answering event %r from %s failed", data[0], sid)
