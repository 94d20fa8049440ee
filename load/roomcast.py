"""Roomcast's wire contract, as the load tool uses it (docs/protocol.md is the reference).

- Sign in over REST: `POST /api/v1/auth/login` {email, password} -> `access_token`
  (or `POST /api/v1/auth/register` first for fresh load users), or take minted tokens.
- Connect with auth `{"token": access_token}`.
- `join` {room, since?, epoch?, previous?} acks `{"ok": true, "room", "offset", "epoch",
  "presence": [...], "recovered"?, "replayed"?}`; missed events arrive before the ack when
  `since` is given (and `epoch` is the room's: the one from the previous ack); a rejoin names
  the socket id it had before (`previous`), whose presence place it takes.
- `message` {room: "meeting:{id}", text} sends a meeting message; everyone in the room
  (the sender too) receives `message` carrying `room` and a per-room `offset`.
- Presence: `presence:joined` {room, user}, `presence:left` {room, user_id}.

The load payload ({ts, seq, from}) travels as the message text, in JSON.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from load.client import SioClient
from load.contract import JoinFailed, entered

API = "/api/v1"


class SetupFailed(Exception):
    """The REST side refused what a Roomcast scenario needs (sign-in, project, meetings)."""


@dataclass
class Access:
    """Who the load clients are: access tokens (clients take them in turn) and, for each
    token, the id of its user (several tokens may be one user's)."""

    tokens: list[str]
    user_ids: list[str] = field(default_factory=list)

    def users_for(self, clients: int) -> list[str]:
        """The user each of `clients` clients connects as."""
        return [self.user_ids[i % len(self.tokens)] for i in range(clients)]

    def members(self) -> list[str]:
        """Every user but the first (who creates the project), each once."""
        owner = self.user_ids[0] if self.user_ids else None
        return [u for u in dict.fromkeys(self.user_ids) if u != owner]


class RoomcastWire:
    name = "roomcast"
    delivery_event = "message"
    publisher_joins = True  # only members in the room may send into it
    offsets = True

    def __init__(self, access: Access, rooms: list[str], project_id: str | None = None) -> None:
        self.access = access
        self.rooms = rooms
        self.project_id = project_id

    def auth(self, index: int) -> dict[str, Any] | None:
        tokens = self.access.tokens
        return {"token": tokens[index % len(tokens)]}

    def room(self, index: int) -> str:
        return self.rooms[index % len(self.rooms)]

    async def join(
        self, client: SioClient, room: str, since: int | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"room": room}
        if since is not None:
            body["since"] = since
            if room in client.epochs:
                body["epoch"] = client.epochs[room]
            if client.previous_sid:
                # The place the connection before this one had in the room's presence.
                body["previous"] = client.previous_sid
        ack = await client.call("join", body)
        if not ack or not isinstance(ack[0], dict) or not ack[0].get("ok"):
            raise JoinFailed(f"join {room} refused: {ack!r}")
        if isinstance(ack[0].get("epoch"), str):
            client.epochs[room] = ack[0]["epoch"]
        return entered(client, room, ack[0])

    def publish(
        self, client: SioClient, room: str, payload: dict[str, Any],
        on_error: Callable[[str], None], on_ok: Callable[[], None] | None = None,
    ) -> None:
        def acked(args: list[Any]) -> None:
            ack = args[0] if args and isinstance(args[0], dict) else {}
            if ack.get("ok"):
                if on_ok is not None:
                    on_ok()
            else:
                on_error(f"message:{(ack.get('error') or {}).get('code', 'refused')}")

        client.emit_acked("message", {"room": room, "text": orjson.dumps(payload).decode()},
                          on_ack=acked)

    def payload_of(self, args: list[Any]) -> dict[str, Any] | None:
        event = args[0] if args and isinstance(args[0], dict) else None
        if event is None or not isinstance(event.get("text"), str):
            return None
        try:
            payload = orjson.loads(event["text"])
        except orjson.JSONDecodeError:
            return None  # someone else's message in the room
        if not isinstance(payload, dict) or "ts" not in payload:
            return None
        return payload

    def stored(self, args: list[Any]) -> tuple[str, int] | None:
        event = args[0] if args and isinstance(args[0], dict) else None
        if event is None or not isinstance(event.get("offset"), int):
            return None
        return str(event.get("room")), int(event["offset"])


def sign_in(
    url: str, *, token: str | None = None, tokens_file: Path | None = None,
    email: str | None = None, password: str | None = None, register: int = 0,
) -> Access:
    """Access tokens from whichever credentials were given (`register` creates fresh users)."""
    with httpx.Client(base_url=url + API, timeout=30) as http:
        if tokens_file is not None:
            return _tokens_of(http, tokens_file)
        if token:
            return Access([token], [_me(http, token)])
        if email and password:
            access_token, user_id = _login(http, email, password)
            return Access([access_token], [user_id])
        if register > 0:
            return _register(http, register)
    raise SetupFailed("a Roomcast scenario needs --token, --tokens-file, --email/--password "
                      "or --register N")


def _register(http: httpx.Client, count: int) -> Access:
    run = secrets.token_hex(4)
    password = secrets.token_urlsafe(16)
    access = Access([], [])
    for n in range(count):
        email = f"load-{run}-{n}@example.com"
        _check(http.post("/auth/register",
                         json={"email": email, "name": f"Load {n}", "password": password}),
               "register")
        access_token, user_id = _login(http, email, password)
        access.tokens.append(access_token)
        access.user_ids.append(user_id)
    return access


def _login(http: httpx.Client, email: str, password: str) -> tuple[str, str]:
    body = _check(http.post("/auth/login", json={"email": email, "password": password}),
                  "sign in")
    return str(body["access_token"]), str(body["user"]["id"])


def _tokens_of(http: httpx.Client, path: Path) -> Access:
    """A tokens file: one token a line, optionally followed by its user's id (`TOKEN USER_ID`).
    Every token's user must be known: one given is taken as it is; otherwise it is read
    (`GET /users/me`, which also checks the token before the run)."""
    access = Access([], [])
    for n, line in enumerate((line for line in path.read_text().splitlines() if line.strip()),
                             1):
        fields = line.split()
        if len(fields) > 2:
            raise SetupFailed(f"{path}, token {n}: a line is a token and at most its user's id, "
                              f"found {len(fields)} fields")
        access.tokens.append(fields[0])
        access.user_ids.append(fields[1] if len(fields) == 2
                               else _token_user(http, path, n, fields[0]))
    if not access.tokens:
        raise SetupFailed(f"{path} holds no tokens")
    return access


def _token_user(http: httpx.Client, path: Path, n: int, token: str) -> str:
    try:
        return _me(http, token)
    except SetupFailed as exc:
        raise SetupFailed(f"{path}, token {n}: {exc}") from None


def _me(http: httpx.Client, token: str) -> str:
    body = _check(http.get("/users/me", headers=_bearer(token)), "read /users/me")
    return str(body["id"])


def meeting_rooms(url: str, access: Access, count: int) -> tuple[str, list[str]]:
    """A fresh project with every load user in it, and `count` meetings: the project's id
    and the meetings' room names."""
    head = _bearer(access.tokens[0])
    with httpx.Client(base_url=url + API, timeout=30) as http:
        project = _check(http.post("/projects", headers=head,
                                   json={"name": f"load {secrets.token_hex(3)}"}),
                         "create a project")
        project_id = project["id"]
        for user_id in access.members():
            _check(http.post(f"/projects/{project_id}/members", headers=head,
                             json={"user_id": user_id}), "add a member")
        rooms = []
        when = datetime.now(UTC).isoformat()
        for n in range(count):
            meeting = _check(http.post(f"/projects/{project_id}/meetings", headers=head,
                                       json={"title": f"load room {n}", "scheduled_at": when}),
                             "create a meeting")
            rooms.append(f"meeting:{meeting['id']}")
    return str(project_id), rooms


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _check(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 400:
        raise SetupFailed(f"could not {what}: HTTP {response.status_code} "
                          f"{response.text[:300]}")
    return response.json()
