"""Joining rooms: a repeated join is harmless, and a join racing a member's removal never leaves
the removed user in the room."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, Sock, metric
from tests.support.services import RedisServer

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


async def test_meeting_start_and_end_reach_its_rooms(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock]
) -> None:
    head, bob = seed.user("head"), seed.user("bob")
    project = seed.project(head, bob)
    meeting = seed.meeting(project, head)
    server = start_server()
    in_meeting = await socks().connect(server.url, bob.token)
    in_project = await socks().connect(server.url, head.token)
    await in_meeting.join(f"meeting:{meeting}")
    await in_project.join(f"project:{project}")
    auth = {"Authorization": f"Bearer {head.token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=auth) as http:
        assert (await http.post(f"/api/v1/meetings/{meeting}/start")).status_code == 200
        assert (await http.post(f"/api/v1/meetings/{meeting}/end")).status_code == 200
    for sock, room in ((in_meeting, f"meeting:{meeting}"), (in_project, f"project:{project}")):
        await sock.wait_for(lambda s=sock: s.named("meeting.ended"))
        events = [(name, data) for name, data in sock.events if name.startswith("meeting.")]
        assert [(name, data["room"], data["offset"]) for name, data in events] == [
            ("meeting.started", room, 1), ("meeting.ended", room, 2)]
        started, ended = events[0][1]["meeting"], events[1][1]["meeting"]
        assert (started["id"], started["status"]) == (meeting, "live")
        assert (ended["status"], ended["started_at"]) == ("ended", started["started_at"])
        assert ended["ended_at"] is not None


TRIALS = 200


async def test_a_join_racing_the_removal_of_the_member_never_stays(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer
) -> None:
    head, bob = seed.user("head"), seed.user("bob")
    projects = [seed.project(head, bob) for _ in range(TRIALS)]
    server = start_server(redis_url=rt_redis.url, socket_events_per_second="1000",
                          socket_event_burst="1000")
    b = await socks().connect(server.url, bob.token)
    rng = random.Random(7)
    async with httpx.AsyncClient(base_url=server.url,
                                 headers={"Authorization": f"Bearer {head.token}"}) as http:

        async def remove(project: str) -> int:
            return (await http.delete(f"/api/v1/projects/{project}/members/{bob.id}")).status_code

        async def join(room: str, delay: float) -> Any:
            await asyncio.sleep(delay)
            return await b.join(room)

        for project in projects:
            room = f"project:{project}"
            # The removal's request takes longer to reach its store write than the join: the
            # join starts a little later, by a different amount each time.
            ack, status = await asyncio.gather(join(room, rng.uniform(0, 0.0015)), remove(project))
            assert status == 204
            if ack["ok"]:
                # Joined before the removal: the revocation must take it out again.
                await b.wait_for(lambda r=room: any(x["room"] == r
                                                    for x in b.named("room:revoked")))
            else:
                assert ack["error"]["code"] == "not_found", ack
            typing = await b.call("typing", {"room": room, "typing": True})
            assert typing["error"]["code"] == "not_joined", (room, ack)
    # Whichever won each race, nobody is left in a room: presence is empty on the server.
    assert await metric(server.url, "roomcast_presence_connections") == 0
