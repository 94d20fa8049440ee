"""A small chat server in python-socketio: what the load-testing tutorial (docs/load.md)
tests from scratch. It knows nothing of Roomcast.

    python examples/chat/app.py --port 8200

Events: connect with auth `{"name": ...}` (refused without a name); `join` a room by name
(acked `{"ok": true, "room": ..., "members": N}`, and announced to everyone in the room,
the newcomer too, as `joined` `{room, user, members}`); `leave` (acked); `chat`
`{room, text, ...}` is sent to everyone else in the room as `chat` with the same fields plus
`user`, and acked `{"ok": true, "id": N}`; `history` a room: acked with its last 20 messages.
`GET /stats` answers the app's own counts (`connected`, `chat_sent`, `chat_delivered`), which
a load test's figures can be checked against.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import defaultdict, deque
from typing import Any

import socketio
import uvicorn


def build_app() -> Any:
    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")
    names: dict[str, str] = {}
    counts = {"chat_sent": 0, "chat_delivered": 0}
    history: dict[str, deque[dict[str, Any]]] = defaultdict(lambda: deque(maxlen=20))
    ids = itertools.count(1)

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        name = auth.get("name") if isinstance(auth, dict) else None
        if not isinstance(name, str) or not name:
            raise socketio.exceptions.ConnectionRefusedError("a name is required")
        names[sid] = name

    @sio.event
    async def disconnect(sid: str, *reason: Any) -> None:
        names.pop(sid, None)

    @sio.event
    async def join(sid: str, room: Any) -> dict[str, Any]:
        if not isinstance(room, str) or not room:
            return {"ok": False, "error": "room must be a non-empty string"}
        await sio.enter_room(sid, room)
        members = len(list(sio.manager.get_participants("/", room)))
        await sio.emit("joined", {"room": room, "user": names.get(sid, "?"), "members": members},
                       room=room)
        return {"ok": True, "room": room, "members": members}

    @sio.event
    async def leave(sid: str, room: Any) -> dict[str, Any]:
        await sio.leave_room(sid, str(room))
        return {"ok": True, "room": room}

    @sio.event
    async def chat(sid: str, message: Any) -> dict[str, Any]:
        if not isinstance(message, dict) or not isinstance(message.get("room"), str):
            return {"ok": False, "error": "a message needs a room"}
        if message["room"] not in sio.rooms(sid):
            return {"ok": False, "error": "join the room first"}
        out = {**message, "user": names.get(sid, "?"), "id": next(ids)}
        history[message["room"]].append(out)
        counts["chat_sent"] += 1
        counts["chat_delivered"] += len(list(sio.manager.get_participants("/", out["room"]))) - 1
        await sio.emit("chat", out, room=message["room"], skip_sid=sid)
        return {"ok": True, "id": out["id"]}

    @sio.event
    async def history_of(sid: str, room: Any) -> list[dict[str, Any]]:
        return list(history.get(str(room), ()))

    sio.on("history", history_of)

    async def stats(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return  # no lifespan events to handle
        found = scope["path"] == "/stats"
        body = json.dumps({"connected": len(names), **counts}).encode() if found else b""
        await send({"type": "http.response.start", "status": 200 if found else 404,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    return socketio.ASGIApp(sio, other_asgi_app=stats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8200)
    args = parser.parse_args()
    uvicorn.run(build_app(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
