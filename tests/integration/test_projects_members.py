"""Project members over REST: list, add, change role, remove, search, and the last head."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx

from core.errors import ServiceUnavailable
from roomcast.factory import Services
from tests.support.domain import (
    RecordingEmitter,
    add_member,
    create_project,
    make_user,
    record_events,
)

API = "/api/v1"


async def test_add_by_email_notifies_and_lists(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice = await make_user(services, "Alice")
    bob = await make_user(services, "Bob")
    project_id = await create_project(client, alice)
    events = record_events(services)
    response = await client.post(
        f"{API}/projects/{project_id}/members", json={"email": bob.user.email.upper()},
        headers=alice.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["user_id"] == bob.id
    assert response.json()["role"] == "member"
    assert [(u, k) for u, k, _ in events.of("notify")] == [(bob.id, "project.added")]
    listing = (await client.get(f"{API}/projects/{project_id}/members",
                                headers=bob.headers)).json()
    assert listing["total"] == 2
    assert sorted((m["name"], m["email"], m["role"]) for m in listing["items"]) == [
        ("Alice", alice.user.email, "head"), ("Bob", bob.user.email, "member"),
    ]
    mine = (await client.get(f"{API}/projects", headers=bob.headers)).json()
    assert [p["id"] for p in mine["items"]] == [project_id]


async def test_add_rejects_bad_requests(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "Alice")
    bob = await make_user(services, "Bob")
    carol = await make_user(services, "Carol")
    project_id = await create_project(client, alice)
    await add_member(client, project_id, alice, bob)
    url = f"{API}/projects/{project_id}/members"
    cases = [
        (alice, {"user_id": bob.id}, 409),
        (alice, {"user_id": "nobody"}, 404),
        (alice, {"email": "nobody@example.com"}, 404),
        (alice, {"user_id": carol.id, "email": carol.user.email}, 422),
        (alice, {}, 422),
        (alice, {"email": None}, 422),
        # The schema says each is a string when given: null next to the other is refused too.
        (alice, {"user_id": None, "email": carol.user.email}, 422),
        (alice, {"user_id": carol.id, "email": None}, 422),
        (alice, {"user_id": carol.id, "role": None}, 422),
        (alice, {"user_id": ""}, 422),
        (alice, {"user_id": carol.id, "role": "owner"}, 422),
        (alice, {"user_id": carol.id, "admin": True}, 422),
        (alice, {"user_id": 12}, 422),
        (bob, {"user_id": carol.id}, 403),
        (carol, {"user_id": carol.id}, 404),
    ]
    for caller, body, status in cases:
        response = await client.post(url, json=body, headers=caller.headers)
        assert response.status_code == status, (body, response.text)
    listing = (await client.get(url, headers=alice.headers)).json()
    assert listing["total"] == 2


async def test_change_role_and_keep_a_head(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "Alice")
    bob = await make_user(services, "Bob")
    project_id = await create_project(client, alice)
    await add_member(client, project_id, alice, bob)
    url = f"{API}/projects/{project_id}/members"
    last = await client.patch(f"{url}/{alice.id}", json={"role": "member"}, headers=alice.headers)
    assert last.status_code == 409
    assert last.json()["error"]["code"] == "conflict"
    assert (await client.patch(f"{url}/{alice.id}", json={"role": "head"},
                               headers=bob.headers)).status_code == 403
    promoted = await client.patch(f"{url}/{bob.id}", json={"role": "head"}, headers=alice.headers)
    assert (promoted.status_code, promoted.json()["role"]) == (200, "head")
    stepped_down = await client.patch(f"{url}/{alice.id}", json={"role": "member"},
                                      headers=alice.headers)
    assert stepped_down.json()["role"] == "member"
    bad = await client.patch(f"{url}/{bob.id}", json={"role": "member", "x": 1},
                             headers=bob.headers)
    assert bad.status_code == 422
    missing = await client.patch(f"{url}/nobody", json={"role": "head"}, headers=bob.headers)
    assert missing.status_code == 404
    roles = {m["user_id"]: m["role"]
             for m in (await client.get(url, headers=bob.headers)).json()["items"]}
    assert roles == {alice.id: "member", bob.id: "head"}


async def test_remove_revokes_and_notifies(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "Alice")
    bob = await make_user(services, "Bob")
    project_id = await create_project(client, alice)
    await add_member(client, project_id, alice, bob)
    task = (await client.post(f"{API}/projects/{project_id}/tasks",
                              json={"title": "t", "assignee_id": bob.id},
                              headers=alice.headers)).json()
    events = record_events(services)
    url = f"{API}/projects/{project_id}/members"
    assert (await client.delete(f"{url}/{alice.id}", headers=bob.headers)).status_code == 403
    assert (await client.delete(f"{url}/{alice.id}", headers=alice.headers)).status_code == 409
    assert events.calls == []
    assert (await client.delete(f"{url}/{bob.id}", headers=alice.headers)).status_code == 204
    assert events.of("revoked") == [(bob.id, project_id)]
    assert [(u, k) for u, k, _ in events.of("notify")] == [(bob.id, "project.removed")]
    assert (await client.get(f"{API}/projects/{project_id}",
                             headers=bob.headers)).status_code == 404
    assert (await client.get(f"{API}/tasks/{task['id']}",
                             headers=alice.headers)).json()["assignee_id"] is None
    again = await client.delete(f"{url}/{bob.id}", headers=alice.headers)
    assert again.status_code == 404


async def test_member_may_leave(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "Alice")
    bob = await make_user(services, "Bob")
    project_id = await create_project(client, alice)
    await add_member(client, project_id, alice, bob)
    events = record_events(services)
    left = await client.delete(f"{API}/projects/{project_id}/members/{bob.id}",
                               headers=bob.headers)
    assert left.status_code == 204
    assert events.of("revoked") == [(bob.id, project_id)]
    assert events.of("notify") == []


async def test_search_members_by_prefix(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "Alice Smith", email="alice@corp.example")
    bob = await make_user(services, "Bob Stone", email="bob@corp.example")
    await make_user(services, "Bobby Outsider", email="bobby@corp.example")
    project_id = await create_project(client, alice)
    await add_member(client, project_id, alice, bob)
    url = f"{API}/projects/{project_id}/members/search"
    by_name = (await client.get(url, params={"q": "bo"}, headers=bob.headers)).json()
    assert [m["user_id"] for m in by_name["items"]] == [bob.id]
    by_email = (await client.get(url, params={"q": "ALICE@"}, headers=bob.headers)).json()
    assert [m["user_id"] for m in by_email["items"]] == [alice.id]
    both = (await client.get(url, params={"q": "a", "limit": 1}, headers=bob.headers)).json()
    assert (both["total"], len(both["items"])) == (1, 1)
    regex = (await client.get(url, params={"q": ".*"}, headers=bob.headers)).json()
    assert regex["total"] == 0
    for bad in ("", "  ", "a\x00"):
        response = await client.get(url, params={"q": bad}, headers=bob.headers)
        assert response.status_code == 422, repr(bad)


async def test_candidates_for_heads(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "Alice", email="alice@cand.example")
    bob = await make_user(services, "Bob", email="bob@cand.example")
    outsider = await make_user(services, "Bobby", email="bobby@cand.example")
    project_id = await create_project(client, alice)
    await add_member(client, project_id, alice, bob)
    url = f"{API}/projects/{project_id}/candidates"
    found = (await client.get(url, params={"q": "bo"}, headers=alice.headers)).json()
    assert found == {"items": [{"user_id": outsider.id, "name": "Bobby",
                                "email": "bobby@cand.example"}],
                     "total": 1, "limit": 50, "offset": 0}
    assert (await client.get(url, params={"q": "bo"}, headers=bob.headers)).status_code == 403
    assert (await client.get(url, params={"q": "b"}, headers=alice.headers)).status_code == 422


async def test_candidates_paginate_by_name(client: httpx.AsyncClient, services: Services) -> None:
    head = await make_user(services, "Head", email="head@pages.example")
    project_id = await create_project(client, head)
    tag = uuid4().hex[:6]
    names = [f"Pg{tag} {i}" for i in range(5)]
    for name in reversed(names):  # stored out of order: the answer is sorted by name
        await make_user(services, name)
    url = f"{API}/projects/{project_id}/candidates"
    seen: list[str] = []
    for offset in (0, 2, 4):
        page = (await client.get(url, params={"q": f"pg{tag}", "limit": 2, "offset": offset},
                                 headers=head.headers)).json()
        assert (page["total"], page["limit"], page["offset"]) == (5, 2, offset)
        seen += [p["name"] for p in page["items"]]
    assert seen == names
    past = (await client.get(url, params={"q": f"pg{tag}", "offset": 5},
                             headers=head.headers)).json()
    assert (past["items"], past["total"]) == ([], 5)


class FailingEmitter(RecordingEmitter):
    """Records calls, then fails them as a publish into an unreachable Redis would."""

    async def emit(self, room: str, event: str, data: dict[str, Any]) -> int:
        self.calls.append(("emit", (room, event, data)))
        raise ServiceUnavailable("redis is unreachable")

    async def notify(self, user_id: str, *, kind: str, title: str, body: str = "",
                     data: dict[str, Any] | None = None) -> dict[str, Any]:
        self.calls.append(("notify", (user_id, kind, data)))
        raise ServiceUnavailable("redis is unreachable")

    async def membership_revoked(self, user_id: str, project_id: str) -> None:
        self.calls.append(("revoked", (user_id, project_id)))
        raise ServiceUnavailable("redis is unreachable")

    async def user_ended(self, user_id: str, code: str) -> None:
        self.calls.append(("ended", (user_id, code)))
        raise ServiceUnavailable("redis is unreachable")


async def test_publish_failures(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "Alice")
    bob = await make_user(services, "Bob")
    project_id = await create_project(client, alice)
    failing = FailingEmitter(services.ctx.emitter)
    services.ctx.emitter = failing
    # A lost event or notification does not undo a stored change: it is logged.
    await add_member(client, project_id, alice, bob)
    task = await client.post(f"{API}/projects/{project_id}/tasks",
                             json={"title": "t", "assignee_id": bob.id}, headers=alice.headers)
    assert task.status_code == 201
    assert [k for _, k, _ in failing.of("notify")] == ["project.added", "task.assigned"]
    # A revocation that cannot be published is reported: the caller must know that the
    # removed member's open sockets may keep their rooms.
    removed = await client.delete(f"{API}/projects/{project_id}/members/{bob.id}",
                                  headers=alice.headers)
    assert (removed.status_code, removed.json()["error"]["code"]) == (503, "service_unavailable")
    assert await services.ctx.stores.projects.member_role(project_id, bob.id) is None


async def test_delete_revokes_everyone_despite_failures(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice = await make_user(services, "Alice")
    bob = await make_user(services, "Bob")
    project_id = await create_project(client, alice)
    await add_member(client, project_id, alice, bob)
    failing = FailingEmitter(services.ctx.emitter)
    services.ctx.emitter = failing
    deleted = await client.delete(f"{API}/projects/{project_id}", headers=alice.headers)
    assert deleted.status_code == 503
    assert sorted(failing.of("revoked")) == sorted([(alice.id, project_id), (bob.id, project_id)])
    assert await services.ctx.stores.projects.get(project_id) is None
