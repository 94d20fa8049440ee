"""Projects over REST: create, list mine, get, update, delete, and who may do which."""

from __future__ import annotations

import httpx

from core.models import Role
from roomcast.factory import Services
from tests.integration.workers.conftest import Member, wait_job
from tests.support.domain import (
    add_member,
    create_project,
    make_user,
    oldest_first,
    record_events,
)

API = "/api/v1"


async def test_create_makes_the_caller_head(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "alice")
    response = await client.post(f"{API}/projects", json={"name": "  Apollo ", "description": "x"},
                                 headers=alice.headers)
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Apollo"
    assert body["owner_id"] == alice.id
    assert body["role"] == "head"
    assert body["member_count"] == 1
    got = await client.get(f"{API}/projects/{body['id']}", headers=alice.headers)
    assert got.status_code == 200
    assert got.json() == body


async def test_list_mine_paginates(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "alice")
    bob = await make_user(services, "bob")
    for i in range(5):
        await create_project(client, alice, f"P{i}")
    await create_project(client, bob, "not alice's")
    everything = (await client.get(f"{API}/projects", headers=alice.headers)).json()["items"]
    # Oldest first, ties (same millisecond) broken by id.
    assert everything == sorted(everything, key=oldest_first)
    assert sorted(p["name"] for p in everything) == [f"P{i}" for i in range(5)]
    ids = [p["id"] for p in everything]
    first = (await client.get(f"{API}/projects?limit=2", headers=alice.headers)).json()
    assert [p["id"] for p in first["items"]] == ids[:2]
    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    last = (await client.get(f"{API}/projects?limit=2&offset=4", headers=alice.headers)).json()
    assert [p["id"] for p in last["items"]] == ids[4:]
    bad = await client.get(f"{API}/projects?limit=0", headers=alice.headers)
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "validation_error"


async def test_head_updates_member_cannot(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "alice")
    bob = await make_user(services, "bob")
    project_id = await create_project(client, alice)
    await add_member(client, project_id, alice, bob)
    url = f"{API}/projects/{project_id}"
    denied = await client.patch(url, json={"name": "Bob's"}, headers=bob.headers)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "forbidden"
    ok = await client.patch(url, json={"description": "moon"}, headers=alice.headers)
    assert ok.status_code == 200
    assert (ok.json()["name"], ok.json()["description"]) == ("Apollo", "moon")
    seen_by_bob = (await client.get(url, headers=bob.headers)).json()
    assert (seen_by_bob["name"], seen_by_bob["role"]) == ("Apollo", "member")


async def test_bad_updates_change_nothing(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "alice")
    project_id = await create_project(client, alice)
    url = f"{API}/projects/{project_id}"
    for body in ({"name": None}, {"name": ""}, {"name": 5}, {"owner_id": "x"}, ["name"]):
        response = await client.patch(url, json=body, headers=alice.headers)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "validation_error"
    malformed = await client.patch(url, content=b"{name", headers=alice.headers)
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "bad_request"
    unchanged = (await client.get(url, headers=alice.headers)).json()
    assert unchanged["name"] == "Apollo"
    assert unchanged["updated_at"] == unchanged["created_at"]


async def test_create_rejects_bad_bodies(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "alice")
    for body in ({}, {"name": "  "}, {"name": "A", "members": []}, {"name": ["A"]}):
        response = await client.post(f"{API}/projects", json=body, headers=alice.headers)
        assert response.status_code == 422, body
        assert response.json()["error"]["details"]
    listing = (await client.get(f"{API}/projects", headers=alice.headers)).json()
    assert listing["total"] == 0
    anonymous = await client.post(f"{API}/projects", json={"name": "A"})
    assert anonymous.status_code == 401


async def test_delete_cascades_and_revokes(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "alice")
    bob = await make_user(services, "bob")
    project_id = await create_project(client, alice)
    await add_member(client, project_id, alice, bob)
    task = await client.post(f"{API}/projects/{project_id}/tasks", json={"title": "t"},
                             headers=bob.headers)
    assert task.status_code == 201
    events = record_events(services)
    url = f"{API}/projects/{project_id}"
    assert (await client.delete(url, headers=bob.headers)).status_code == 403
    deleted = await client.delete(url, headers=alice.headers)
    assert deleted.status_code == 202
    assert deleted.headers["location"] == f"{API}/jobs/{deleted.json()['job_id']}"
    assert (await client.get(url, headers=alice.headers)).status_code == 404
    job = await wait_job(client, Member(alice, project_id), deleted.json()["job_id"])
    assert job["status"] == "succeeded"
    assert await services.ctx.stores.tasks.get(task.json()["id"]) is None
    assert sorted(events.of("revoked")) == sorted([(alice.id, project_id), (bob.id, project_id)])


async def test_admin_acts_as_head(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "alice")
    admin = await make_user(services, "root", role=Role.ADMIN)
    project_id = await create_project(client, alice)
    got = await client.get(f"{API}/projects/{project_id}", headers=admin.headers)
    assert (got.status_code, got.json()["role"]) == (200, "head")
    renamed = await client.patch(f"{API}/projects/{project_id}", json={"name": "Ops"},
                                 headers=admin.headers)
    assert renamed.json()["name"] == "Ops"
    missing = await client.get(f"{API}/projects/nope", headers=admin.headers)
    assert missing.status_code == 404


async def test_indexes_for_membership_and_lists(services: Services) -> None:
    db = services.ctx.stores.db

    async def keys(collection: str) -> list[list[str]]:
        info = await db[collection].index_information()
        return [[field for field, _ in index["key"]] for index in info.values()]

    assert ["members.user_id", "created_at"] in await keys("projects")
    assert ["project_id", "status", "scheduled_at"] in await keys("meetings")
    task_keys = await keys("tasks")
    for name in ("status", "assignee_id", "priority"):
        assert ["project_id", name, "created_at", "_id"] in task_keys
    assert ["user_id", "created_at", "_id"] in await keys("notifications")
