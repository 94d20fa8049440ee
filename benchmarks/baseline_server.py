"""A plain python-socketio AsyncServer under uvicorn: the baseline Roomcast is measured against.

It implements the generic load contract (docs/load.md): `join` a room by name (acked), and
`broadcast` {room, ...} which the server emits to everyone else in that room.

    python benchmarks/baseline_server.py --port 8100
"""

from __future__ import annotations

import argparse
from typing import Any

import socketio
import uvicorn


def build_app() -> Any:
    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")

    async def join(sid: str, room: Any) -> dict[str, Any]:
        name = room.get("room") if isinstance(room, dict) else room
        if not isinstance(name, str) or not name:
            return {"ok": False, "error": "room must be a non-empty string"}
        await sio.enter_room(sid, name)
        return {"ok": True, "room": name}

    async def leave(sid: str, room: Any) -> dict[str, Any]:
        name = room.get("room") if isinstance(room, dict) else room
        await sio.leave_room(sid, str(name))
        return {"ok": True, "room": name}

    async def broadcast(sid: str, data: Any) -> dict[str, Any]:
        # The answer is the ack, sent only when the client asked for one (the herd scenario).
        if isinstance(data, dict) and isinstance(data.get("room"), str):
            await sio.emit("broadcast", data, room=data["room"], skip_sid=sid)
            return {"ok": True}
        return {"ok": False}

    for handler in (join, leave, broadcast):
        sio.on(handler.__name__, handler)
    return socketio.ASGIApp(sio)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    # Defaults a Python team would pick: uvicorn's own (uvloop, httptools, websockets).
    uvicorn.run(build_app(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
