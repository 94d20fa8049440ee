"""Access logs that say who: one JSON line per request (client, user or API key, route, status,
duration, request id) and per socket connect and disconnect; and nothing secret in the logs of
a real run (register, sign-in, refresh, an API key, the calendar feed, a socket with its token,
a password reset)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from tests.integration.realtime.support import Sock
from tests.support.services import ServerProcess, start_roomcast, wait_until

pytestmark = pytest.mark.slow

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-Passw0rd-that-is-long"
PASSWORD = "member-S3cret-passphrase"


def json_lines(server: ServerProcess) -> list[dict[str, Any]]:
    lines = []
    for line in server.log().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def start(tmp_path: Path, **env: str) -> ServerProcess:
    return start_roomcast({"LOG_JSON": "true", "LOG_LEVEL": "DEBUG",
                           "ROOMCAST_ADMIN_EMAIL": ADMIN_EMAIL,
                           "ROOMCAST_ADMIN_PASSWORD": ADMIN_PASSWORD, **env}, tmp_path)


async def a_full_run(server: ServerProcess, data_dir: Path,
                     facts: dict[str, str]) -> dict[str, str]:
    """Every kind of credential used once; returns them by name (and ids in `facts`)."""
    secrets = {"password": PASSWORD, "admin password": ADMIN_PASSWORD}
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        email = "member@example.com"
        created = await http.post("/api/v1/auth/register",
                                  json={"email": email, "name": "M", "password": PASSWORD})
        assert created.status_code == 201, created.text
        wrong = await http.post("/api/v1/auth/login",
                                json={"email": email, "password": PASSWORD + "-wrong"})
        assert wrong.status_code == 401
        secrets["wrong password"] = PASSWORD + "-wrong"
        pair = (await http.post("/api/v1/auth/login",
                                json={"email": email, "password": PASSWORD})).json()
        secrets["access token"] = pair["access_token"]
        refreshed = (await http.post("/api/v1/auth/refresh",
                                     json={"refresh_token": pair["refresh_token"]})).json()
        secrets["refresh token"] = pair["refresh_token"]
        secrets["second refresh token"] = refreshed["refresh_token"]
        bearer = {"Authorization": f"Bearer {refreshed['access_token']}",
                  "X-Forwarded-For": "203.0.113.7"}
        secrets["second access token"] = refreshed["access_token"]
        me = await http.get("/api/v1/users/me", headers=bearer)
        assert me.status_code == 200, me.text
        feed = (await http.get("/api/v1/users/me/calendar", headers=bearer)).json()["url"]
        key = feed.rsplit("/", 1)[1].removesuffix(".ics")
        secrets["calendar key"] = key
        assert (await http.get(f"/api/v1/calendar/{key}.ics")).status_code == 200

        admin = (await http.post("/api/v1/auth/login", json={
            "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})).json()
        secrets["admin token"] = admin["access_token"]
        made = await http.post("/api/v1/admin/api-keys", json={"name": "script"},
                               headers={"Authorization": f"Bearer {admin['access_token']}"})
        assert made.status_code == 201, made.text
        secrets["api key"] = made.json()["key"]
        facts["api key id"] = made.json()["id"]
        facts["admin id"] = admin["user"]["id"]
        by_key = await http.get("/api/v1/users/me", headers={"X-API-Key": made.json()["key"]})
        assert by_key.status_code == 200, by_key.text

        sock = await Sock().connect(server.url, refreshed["access_token"])
        await sock.close()
        refused = Sock()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect(server.url, pair["access_token"] + "x")
        await http.post("/api/v1/auth/password-reset", json={"email": email})

    def reset_mail() -> list[Path]:
        return list((data_dir / "mail").glob("*.eml"))

    await asyncio.to_thread(wait_until, reset_mail, timeout=20, what="the reset mail")
    text = reset_mail()[0].read_text()
    token = next(part for part in text.split() if "token=" in part).split("token=", 1)[1]
    secrets["reset token"] = token.split("&")[0].strip('"<>')
    return {name: value for name, value in secrets.items() if value}


async def test_access_lines_say_who_and_no_secret_is_logged(tmp_path: Path) -> None:
    server = start(tmp_path, TRUSTED_PROXIES="127.0.0.1")
    try:
        data_dir = tmp_path / f"data-{server.port}"
        facts: dict[str, str] = {}
        secrets = await a_full_run(server, data_dir, facts)
    finally:
        server.stop()
    log = server.log()
    leaked = [name for name, value in secrets.items() if value in log]
    assert not leaked, f"found in the log: {leaked}"

    lines = json_lines(server)
    access = [x for x in lines if x["logger"] == "roomcast.access" and "route" in x]
    me = [x for x in access if x["route"] == "/api/v1/users/me"]
    by_token = next(x for x in me if "api_key_id" not in x)
    assert by_token["client"] == "203.0.113.7"  # X-Forwarded-For from a trusted proxy
    assert by_token["user_id"] and by_token["status"] == 200
    assert by_token["request_id"] and by_token["duration_ms"] >= 0
    by_key = next(x for x in me if "api_key_id" in x)
    assert by_key["client"] == "127.0.0.1"  # no X-Forwarded-For: the peer
    assert by_key["api_key_id"] == facts["api key id"]
    assert by_key["user_id"] == facts["admin id"]  # the key's owner
    feed = next(x for x in access if x["route"] == "/api/v1/calendar/{key}.ics")
    assert feed["path"] == "/api/v1/calendar/[redacted].ics" and "user_id" not in feed
    login = [x for x in access if x["route"] == "/api/v1/auth/login"]
    assert [x["status"] for x in login] == [401, 200, 200]
    assert all("user_id" not in x for x in login)

    sockets = [x for x in lines if x.get("event", "").startswith("socket.")]
    connect = next(x for x in sockets if x["event"] == "socket.connect")
    disconnect = next(x for x in sockets if x["event"] == "socket.disconnect")
    assert connect["user_id"] == by_token["user_id"] and connect["client"] == "127.0.0.1"
    assert disconnect["sid"] == connect["sid"] and disconnect["user_id"] == connect["user_id"]
    assert disconnect["reason"] and disconnect["duration_s"] >= 0
    refused = next(x for x in sockets if x["event"] == "socket.refused")
    assert refused["code"] == "unauthorized" and "user_id" not in refused
    # At DEBUG, uvicorn's and websockets' own lines for each WebSocket are kept.
    assert any(x["logger"] == "uvicorn.error" and x["message"].endswith("[accepted]")
               for x in lines)


async def test_forwarded_for_is_ignored_without_trusted_proxies(tmp_path: Path) -> None:
    server = start(tmp_path)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
            answer = await http.get("/health/live", headers={"X-Forwarded-For": "203.0.113.7"})
            assert answer.status_code == 200
    finally:
        server.stop()
    line = next(x for x in json_lines(server)
                if x["logger"] == "roomcast.access" and x.get("route") == "/health/live")
    assert line["client"] == "127.0.0.1"


async def test_a_socket_is_logged_once_as_it_connects_and_once_as_it_leaves(
        tmp_path: Path) -> None:
    # At INFO, the default: Roomcast's two lines, not uvicorn's and websockets' three more
    # (accepted, open, closed), which DEBUG keeps (the run above).
    server = start(tmp_path, LOG_LEVEL="INFO")
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
            created = await http.post("/api/v1/auth/register", json={
                "email": "once@example.com", "name": "O", "password": PASSWORD})
            assert created.status_code == 201, created.text
            pair = (await http.post("/api/v1/auth/login", json={
                "email": "once@example.com", "password": PASSWORD})).json()
        sock = await Sock().connect(server.url, pair["access_token"])
        await sock.close()

        def left() -> bool:
            return any(x.get("event") == "socket.disconnect" for x in json_lines(server))

        await asyncio.to_thread(wait_until, left, timeout=20, what="the disconnect's line")
    finally:
        server.stop()
    lines = json_lines(server)
    assert [x["event"] for x in lines if x.get("event", "").startswith("socket.")] == [
        "socket.connect", "socket.disconnect"]
    websocket = [x["message"] for x in lines if x["logger"] == "uvicorn.error"
                 and ("WebSocket" in x["message"] or x["message"].startswith("connection "))]
    assert websocket == []
    assert any(x["message"] == "Application startup complete." for x in lines)
