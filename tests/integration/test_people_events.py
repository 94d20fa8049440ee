"""Every change the people side publishes, received live by real Socket.IO clients of a real
`roomcast serve` (embedded default), and recovered after a reconnect with `since`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.ids import utcnow
from tests.integration.realtime.support import Sock
from tests.support.services import ServerProcess, start_roomcast

pytestmark = pytest.mark.slow
API = "/api/v1"
PASSWORD = "correct horse battery"
PROJECT_EVENTS = [
    "project.updated", "member.added", "member.role_changed", "invitation.created",
    "invitation.revoked", "meeting.scheduled", "meeting.changed", "meeting.started",
    "meeting.ended", "meeting.deleted", "meeting.scheduled", "meeting.cancelled", "upload.created",
    "upload.deleted", "member.removed", "project.deleted",
]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    env = {"DATA_DIR": str(tmp_path / "data"), "RATE_LIMIT_IP_PER_MINUTE": "100000",
           "RATE_LIMIT_USER_PER_MINUTE": "100000"}
    process = await asyncio.to_thread(start_roomcast, env, tmp_path)
    try:
        yield process
    finally:
        process.stop()


async def account(http: httpx.AsyncClient, name: str) -> tuple[str, str, dict[str, str]]:
    email = f"{name.lower()}@example.com"
    made = await http.post(f"{API}/auth/register",
                           json={"email": email, "name": name, "password": PASSWORD})
    assert made.status_code == 201, made.text
    token = (await http.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})
             ).json()["access_token"]
    return made.json()["id"], token, {"Authorization": f"Bearer {token}"}


def names(sock: Sock, room: str, upto: float = float("inf")) -> list[str]:
    return [event for event, data in sock.events
            if isinstance(data, dict) and data.get("room") == room and "offset" in data
            and data["offset"] <= upto]


async def test_every_change_is_live_and_recovered(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        ada_id, ada_token, ada = await account(http, "Ada")
        bob_id, bob_token, bob = await account(http, "Bob")
        project_id = (await http.post(f"{API}/projects", json={"name": "Apollo"},
                                      headers=ada)).json()["id"]
        room, bob_room = f"project:{project_id}", f"user:{bob_id}"
        watcher = await Sock().connect(server.url, ada_token)
        tab_one = await Sock().connect(server.url, bob_token)
        tab_two = await Sock().connect(server.url, bob_token)
        try:
            assert (await watcher.join(room))["ok"]
            async def rejoin_project_room() -> None:
                # Ada's other tab, away until now, catches up on the project's room.
                await watcher.wait_for(lambda: "upload.deleted" in names(watcher, room), 30)
                away = await Sock().connect(server.url, ada_token)
                try:
                    replay = await away.join(room, since=0)
                    assert replay["recovered"] is True
                    # The upload's ingestion job publishes into the room meanwhile: compare
                    # what both hold up to the offset the join answered with.
                    last = replay["offset"]
                    await watcher.wait_for(lambda: max(watcher.offsets(room)) >= last, 30)
                    assert names(away, room, last) == names(watcher, room, last)
                finally:
                    await away.close()

            await _changes(http, project_id, ada, bob, bob_id, tab_one, rejoin_project_room)
            await watcher.wait_for(lambda: "project.deleted" in names(watcher, room), 30)
            live = names(watcher, room)
            assert [e for e in live if e in set(PROJECT_EVENTS)] == PROJECT_EVENTS, live
            # Payloads: the meeting as REST returns it, who did it.
            changed = watcher.named("meeting.changed")[0]
            assert (changed["meeting"]["title"], changed["by"]) == ("Kickoff (moved)", ada_id)
            assert watcher.named("member.role_changed")[0]["member"]["role"] == "head"
            assert watcher.named("project.updated")[0]["project"]["name"] == "Apollo 11"
            # Both of Bob's tabs saw the read and the read-all.
            for tab in (tab_one, tab_two):
                await tab.wait_for(lambda t=tab: t.named("notification.read_all"), 20)
                assert {"notification.read", "notification.read_all", "meeting.reminded"} <= set(
                    names(tab, bob_room))
            mention = [n for n in watcher.named("notification") if n["kind"] == "mention"]
            assert mention and mention[0]["data"]["by"] == bob_id

            # A client that was away rejoins with `since` and gets the same events, in order.
            late = await Sock().connect(server.url, bob_token)
            try:
                replay = await late.join(bob_room, since=0)
                assert replay["recovered"] is True
                assert names(late, bob_room) == names(tab_one, bob_room)
            finally:
                await late.close()
        finally:
            for sock in (watcher, tab_one, tab_two):
                await sock.close()


async def _changes(http: httpx.AsyncClient, project_id: str, ada: dict[str, str],
                   bob: dict[str, str], bob_id: str, bob_sock: Sock,
                   checkpoint: Callable[[], Awaitable[None]]) -> None:
    def ok(response: httpx.Response) -> dict[str, Any]:
        assert response.status_code < 300, response.text
        return response.json() if response.content else {}

    base = f"{API}/projects/{project_id}"
    ok(await http.patch(base, json={"name": "Apollo 11"}, headers=ada))
    ok(await http.post(f"{base}/members", json={"user_id": bob_id}, headers=ada))
    ok(await http.patch(f"{base}/members/{bob_id}", json={"role": "head"}, headers=ada))
    invitation = ok(await http.post(f"{base}/invitations", json={"email": "cy@example.com"},
                                    headers=ada))
    ok(await http.delete(f"{base}/invitations/{invitation['id']}", headers=ada))
    when = (utcnow() + timedelta(days=1)).isoformat()
    meeting = ok(await http.post(f"{base}/meetings", json={"title": "Kickoff",
                                                            "scheduled_at": when}, headers=ada))
    url = f"{API}/meetings/{meeting['id']}"
    ok(await http.patch(url, json={"title": "Kickoff (moved)"}, headers=ada))
    ok(await http.post(f"{url}/remind", headers=ada))
    ok(await http.post(f"{url}/start", headers=ada))
    # Bob mentions Ada in the live meeting.
    assert (await bob_sock.join(f"meeting:{meeting['id']}"))["ok"]
    sent = await bob_sock.call("message", {"room": f"meeting:{meeting['id']}",
                                           "text": "@Ada the numbers are in"})
    assert sent["ok"], sent
    ok(await http.post(f"{url}/end", headers=ada))
    ok(await http.delete(url, headers=ada))
    other = ok(await http.post(f"{base}/meetings", json={"title": "Retro",
                                                          "scheduled_at": when}, headers=ada))
    ok(await http.post(f"{API}/meetings/{other['id']}/cancel", headers=ada))
    upload = ok(await http.post(f"{base}/uploads", headers=ada,
                                files={"file": ("points.csv", b"x,y\n1,2\n3,4\n")}))
    ok(await http.delete(f"{API}/uploads/{upload['upload']['id']}", headers=ada))
    # Bob reads one notification, then all.
    mine = ok(await http.get(f"{API}/notifications", headers=bob))["items"]
    ok(await http.post(f"{API}/notifications/{mine[0]['id']}/read", headers=bob))
    ok(await http.post(f"{API}/notifications/read-all", headers=bob))
    await checkpoint()
    ok(await http.delete(f"{base}/members/{bob_id}", headers=ada))
    ok(await http.delete(base, headers=ada))
