"""Joining rooms: a repeated join is harmless, and a join racing a member's removal never leaves
the removed user in the room."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, Sock, metric

pytestmark = pytest.mark.slow


def users_in(presence: list[dict[str, object]]) -> dict[object, object]:
    return {p["user_id"]: p["connections"] for p in presence}


async def test_a_repeated_join_answers_like_a_join_and_counts_once(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock]
) -> None:
    alice, bob = seed.user("alice"), seed.user("bob")
    meeting = seed.meeting(seed.project(alice, bob), alice)
    room = f"meeting:{meeting}"
    server = start_server()
    b = await socks().connect(server.url, bob.token)
    await b.join(room)
    a = await socks().connect(server.url, alice.token)

    acks = [await a.join(room) for _ in range(3)]
    acks += await asyncio.gather(*(a.join(room) for _ in range(3)))
    for ack in acks:
        assert ack["ok"] is True and ack["room"] == room and ack["offset"] == 0, ack
        assert users_in(ack["presence"]) == {alice.id: 1, bob.id: 1}, ack
        assert "recovered" not in ack
    sent = await b.call("message", {"room": room, "text": "hello"})
    again = await a.join(room, since=0)
    assert (again["recovered"], again["replayed"], again["offset"]) == (True, 1, sent["offset"])

    # Alice's typing comes after every presence diff her joins caused.
    await a.call("typing", {"room": room, "typing": True})
    await b.wait_for(lambda: b.named("presence:typing"))
    about_alice = [(name, data) for name, data in b.events
                   if name.startswith("presence:") and name != "presence:typing"
                   and alice.id in (data.get("user_id"), data.get("user", {}).get("user_id"))]
    assert about_alice == [("presence:joined", {"room": room, "user": {
        "user_id": alice.id, "name": "alice", "status": "online", "connections": 1}})]
    assert await metric(server.url, "roomcast_presence_connections") == 2
    auth = {"Authorization": f"Bearer {alice.token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=auth) as http:
        engagement = (await http.get(f"/api/v1/meetings/{meeting}/engagement")).json()
    assert {u["user_id"]: u["sessions"] for u in engagement["users"]} == {alice.id: 1, bob.id: 1}

    assert (await a.call("leave", {"room": room}))["ok"] is True
    assert await b.wait_for(lambda: b.named("presence:left")) == [
        {"room": room, "user_id": alice.id}]
    assert await metric(server.url, "roomcast_presence_connections") == 1
    assert (await a.call("leave", {"room": room}))["error"]["code"] == "not_joined"
