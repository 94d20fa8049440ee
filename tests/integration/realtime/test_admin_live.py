"""Admin views of the live side across two `roomcast serve` processes on one Redis: sockets
per process and per user, rooms with their members, an announcement to every socket, and a
user's sockets disconnected on every process."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from core.ids import new_id
from core.models import Role
from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, Sock
from tests.support.services import RedisServer

pytestmark = pytest.mark.slow


def seed_admin(seed: Seed) -> dict[str, str]:
    admin_id = new_id()
    seed.users.append({"id": admin_id, "email": f"{admin_id}@example.com", "name": "Admin",
                       "role": "admin"})
    token = seed._tokens.issue(sub=admin_id, role=Role.ADMIN, typ="access").token
    return {"Authorization": f"Bearer {token}"}


async def test_census_announcement_and_disconnect_across_processes(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer
) -> None:
    admin = seed_admin(seed)
    alice, bob = seed.user("alice"), seed.user("bob")
    room = f"project:{seed.project(alice, bob)}"
    one, two = start_server.many(2, redis_url=rt_redis.url)
    alice_one = await socks().connect(one.url, alice.token)
    alice_two = await socks().connect(two.url, alice.token)
    bob_two = await socks().connect(two.url, bob.token)
    assert (await alice_one.join(room))["ok"]

    async with httpx.AsyncClient(base_url=one.url, headers=admin, timeout=20) as http:
        live = (await http.get("/api/v1/admin/live/connections")).json()
        assert live["complete"] is True
        assert live["sockets"] == 3 and live["users"] == 2
        assert sorted(p["sockets"] for p in live["processes"]) == [1, 2]
        top = live["by_user"][0]
        assert top["user_id"] == alice.id and top["sockets"] == 2
        assert len(top["processes"]) == 2
        assert (await http.get("/api/v1/admin/live/connections",
                               params={"limit": 1})).json()["by_user"] == [top]

        rooms = {r["room"]: r for r in (await http.get("/api/v1/admin/live/rooms")).json()["rooms"]}
        assert rooms[room] == {"room": room, "users": 1, "sockets": 1}
        assert rooms[f"user:{alice.id}"] == {"room": f"user:{alice.id}", "users": 1, "sockets": 2}

        said = await http.post("/api/v1/admin/live/announcements",
                               json={"message": "maintenance at 22:00", "level": "warning"})
        assert said.status_code == 202, said.text
        for sock in (alice_one, alice_two, bob_two):
            heard = await sock.wait_for(lambda s=sock: s.named("server:announcement"))
            assert heard[0]["message"] == "maintenance at 22:00"
            assert heard[0]["level"] == "warning" and heard[0]["at"]

        gone = await http.post(f"/api/v1/admin/live/users/{alice.id}/disconnect")
        assert gone.status_code == 202, gone.text
        for sock in (alice_one, alice_two):
            ending = await sock.wait_for(lambda s=sock: s.named("session:ending"))
            assert ending[0]["code"] == "disconnected_by_admin"
            await sock.wait_for(lambda s=sock: not s.client.connected)
        after = (await http.get("/api/v1/admin/live/connections")).json()
        assert after["sockets"] == 1 and after["by_user"][0]["user_id"] == bob.id
        assert bob_two.client.connected and bob_two.named("session:ending") == []


async def test_admin_live_views_refuse_members_and_bad_input(
    seed: Seed, start_server: StartServer, rt_redis: RedisServer
) -> None:
    admin = seed_admin(seed)
    member = seed.user("member")
    server = start_server(redis_url=rt_redis.url)
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        refused = await http.get("/api/v1/admin/live/connections",
                                 headers={"Authorization": f"Bearer {member.token}"})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
        empty = await http.post("/api/v1/admin/live/announcements", headers=admin,
                                json={"message": "  "})
        assert empty.status_code == 422
        loud = await http.post("/api/v1/admin/live/announcements", headers=admin,
                               json={"message": "x", "level": "shouting"})
        assert loud.status_code == 422
        nobody = await http.post(f"/api/v1/admin/live/users/{new_id()}/disconnect",
                                 headers=admin)
        assert nobody.status_code == 404
        too_many = await http.get("/api/v1/admin/live/rooms", headers=admin,
                                  params={"limit": 100_000})
        assert too_many.status_code == 422


async def test_the_embedded_default_answers_for_its_one_process(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock]
) -> None:
    admin = seed_admin(seed)
    alice = seed.user("alice")
    server = start_server()  # no Redis: one process, control messages handled in-process
    sock = await socks().connect(server.url, alice.token)
    async with httpx.AsyncClient(base_url=server.url, headers=admin, timeout=20) as http:
        live = (await http.get("/api/v1/admin/live/connections")).json()
        assert live["complete"] is True and len(live["processes"]) == 1
        assert live["by_user"] == [{"user_id": alice.id, "sockets": 1,
                                    "processes": [live["processes"][0]["process_id"]]}]
        said = await http.post("/api/v1/admin/live/announcements", json={"message": "hello"})
        assert said.status_code == 202
        heard = await sock.wait_for(lambda: sock.named("server:announcement"))
        assert heard[0]["message"] == "hello" and heard[0]["level"] == "info"
        await http.post(f"/api/v1/admin/live/users/{alice.id}/disconnect")
        await sock.wait_for(lambda: not sock.client.connected)
        assert sock.named("session:ending")[0]["code"] == "disconnected_by_admin"
