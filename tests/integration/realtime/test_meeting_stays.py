"""A socket's meeting stay (attendance) opens when it joins the meeting and ends when it leaves
or disconnects: its own stay, found by the id kept when it was opened, while the other
sockets' stays in the same meeting stay open. Read back through REST
(`GET /meetings/{id}/participants`) from a real server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, Sock

API = "/api/v1"


async def participants(url: str, token: str, meeting_id: str) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        page = await http.get(f"{API}/meetings/{meeting_id}/participants",
                              headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200, page.text
    return {p["user_id"]: p for p in page.json()["items"]}


async def test_leaving_and_disconnecting_end_only_the_socket_s_own_stay(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock],
) -> None:
    alice, bob = seed.user("alice"), seed.user("bob")
    meeting_id = seed.meeting(seed.project(alice, bob), alice)
    room = f"meeting:{meeting_id}"
    server = start_server()
    first, second, other = socks(), socks(), socks()
    for sock, user in ((first, alice), (second, alice), (other, bob)):
        await sock.connect(server.url, user.token)
        assert (await sock.join(room))["ok"], sock
    seen = await participants(server.url, alice.token, meeting_id)
    assert (seen[alice.id]["visits"], seen[bob.id]["visits"]) == (2, 1)
    assert seen[alice.id]["last_left_at"] is None and seen[bob.id]["last_left_at"] is None

    assert (await first.call("leave", {"room": room}))["ok"]  # acked once its stay ended
    seen = await participants(server.url, alice.token, meeting_id)
    assert seen[alice.id]["last_left_at"] is None  # the second socket's stay is still open

    await second.close()  # alice's last connection: bob is told once her stay has ended
    await other.wait_for(lambda: [e for e in other.named("presence:left")
                                  if e["user_id"] == alice.id])
    seen = await participants(server.url, alice.token, meeting_id)
    assert seen[alice.id]["last_left_at"] is not None, seen
    assert seen[alice.id]["visits"] == 2
    assert seen[bob.id]["last_left_at"] is None, seen  # bob's stay is untouched
    await other.close()
    await first.close()
