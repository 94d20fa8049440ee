"""Tasks over REST: create, filters, pagination, stats, updates, deletes and their events."""

from __future__ import annotations

import httpx

from roomcast.factory import Services
from tests.support.domain import (
    Caller,
    add_member,
    create_project,
    make_user,
    oldest_first,
    record_events,
)

API = "/api/v1"


async def new_task(client: httpx.AsyncClient, project_id: str, who: Caller,
                   **fields: object) -> dict[str, object]:
    response = await client.post(f"{API}/projects/{project_id}/tasks",
                                 json={"title": "task", **fields}, headers=who.headers)
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_create_emits_and_notifies_assignee(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice = await make_user(services, "Alice")
    bob = await make_user(services, "Bob")
    project_id = await create_project(client, alice)
    await add_member(client, project_id, alice, bob)
    events = record_events(services)
    task = await new_task(client, project_id, alice, title="Write", priority="high",
                          assignee_id=bob.id, due_date="2030-01-31", description="d")
    assert (task["status"], task["priority"], task["due_date"]) == ("todo", "high", "2030-01-31")
    assert (task["created_by"], task["project_id"]) == (alice.id, project_id)
    [(room, event, data)] = events.of("emit")
    assert (room, event) == (f"project:{project_id}", "task.created")
    assert data["task"]["id"] == task["id"]
    assert [(u, k) for u, k, _ in events.of("notify")] == [(bob.id, "task.assigned")]
    got = await client.get(f"{API}/tasks/{task['id']}", headers=bob.headers)
    assert got.json() == task


async def test_filters_and_pagination(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "Alice")
    bob = await make_user(services, "Bob")
    project_id = await create_project(client, alice)
    await add_member(client, project_id, alice, bob)
    created = [
        await new_task(client, project_id, alice, status="done", due_date="2030-01-10"),
        await new_task(client, project_id, alice, assignee_id=bob.id, priority="urgent",
                       due_date="2030-01-20"),
        await new_task(client, project_id, bob, assignee_id=bob.id, status="in_progress"),
    ]
    # Listed oldest first, ties (same millisecond) broken by id.
    t1, t2, t3 = sorted(created, key=oldest_first)
    url = f"{API}/projects/{project_id}/tasks"

    async def ids(**params: object) -> list[object]:
        response = await client.get(url, params=params, headers=bob.headers)
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()["items"]]

    assert await ids() == [t1["id"], t2["id"], t3["id"]]
    done, urgent, mine = (t["id"] for t in created)
    assert await ids(status="done") == [done]
    assert sorted(await ids(assignee_id=bob.id)) == sorted([urgent, mine])
    assert await ids(priority="urgent") == [urgent]
    assert sorted(await ids(due_before="2030-01-20")) == sorted([done, urgent])
    assert await ids(due_before="2030-01-19") == [done]
    assert await ids(assignee_id=bob.id, status="in_progress") == [mine]
    page = (await client.get(url, params={"limit": 2, "offset": 1}, headers=bob.headers)).json()
    assert ([t["id"] for t in page["items"]], page["total"]) == ([t2["id"], t3["id"]], 3)
    for bad in ({"status": "open"}, {"due_before": "soon"}, {"due_before": "0"}, {"offset": -1},
                {"limit": 201}):
        response = await client.get(url, params=bad, headers=bob.headers)
        assert response.status_code == 422, bad


async def test_stats_by_status(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "Alice")
    project_id = await create_project(client, alice)
    other = await create_project(client, alice, "Other")
    for status in ("todo", "todo", "done", "in_progress", "done", "done"):
        await new_task(client, project_id, alice, status=status)
    await new_task(client, other, alice)
    stats = await client.get(f"{API}/projects/{project_id}/tasks/stats", headers=alice.headers)
    assert stats.json() == {"todo": 2, "in_progress": 1, "done": 3, "total": 6}


async def test_update_and_clear(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "Alice")
    bob = await make_user(services, "Bob")
    project_id = await create_project(client, alice)
    await add_member(client, project_id, alice, bob)
    task = await new_task(client, project_id, alice, due_date="2030-02-01")
    events = record_events(services)
    url = f"{API}/tasks/{task['id']}"
    updated = await client.patch(url, json={"status": "in_progress", "assignee_id": alice.id},
                                 headers=bob.headers)
    assert updated.status_code == 200, updated.text
    assert (updated.json()["status"], updated.json()["assignee_id"]) == ("in_progress", alice.id)
    assert [e for _, e, _ in events.of("emit")] == ["task.updated"]
    assert [(u, k) for u, k, _ in events.of("notify")] == [(alice.id, "task.assigned")]
    cleared = await client.patch(url, json={"assignee_id": None, "due_date": None},
                                 headers=alice.headers)
    assert (cleared.json()["assignee_id"], cleared.json()["due_date"]) == (None, None)
    assert cleared.json()["title"] == "task"


async def test_bad_updates_change_nothing(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "Alice")
    outsider = await make_user(services, "Olga")
    project_id = await create_project(client, alice)
    task = await new_task(client, project_id, alice)
    url = f"{API}/tasks/{task['id']}"
    cases = [
        {"assignee_id": outsider.id}, {"status": "closed"}, {"priority": 3}, {"title": None},
        {"title": ""}, {"due_date": "tomorrow"}, {"project_id": "elsewhere"},
        {"created_by": outsider.id},
    ]
    for body in cases:
        response = await client.patch(url, json=body, headers=alice.headers)
        assert response.status_code == 422, body
    not_member = await client.patch(url, json={"assignee_id": outsider.id}, headers=alice.headers)
    assert not_member.json()["error"]["details"][0]["loc"] == ["body", "assignee_id"]
    assert (await client.get(url, headers=alice.headers)).json() == task


async def test_create_rejects_bad_bodies(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "Alice")
    outsider = await make_user(services, "Olga")
    project_id = await create_project(client, alice)
    url = f"{API}/projects/{project_id}/tasks"
    for body in ({}, {"title": "t", "assignee_id": outsider.id}, {"title": "t", "status": 1},
                 {"title": "t", "due_date": "2030-13-01"}, {"title": "t", "extra": True},
                 {"title": "t", "id": "chosen"}, {"title": "t", "due_date": 0}, {"title": " "}):
        response = await client.post(url, json=body, headers=alice.headers)
        assert response.status_code == 422, body
    assert (await client.get(url, headers=alice.headers)).json()["total"] == 0


async def test_delete_by_creator_or_head(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "Alice")
    bob = await make_user(services, "Bob")
    carol = await make_user(services, "Carol")
    project_id = await create_project(client, alice)
    await add_member(client, project_id, alice, bob)
    await add_member(client, project_id, alice, carol)
    by_bob = await new_task(client, project_id, bob)
    by_carol = await new_task(client, project_id, carol)
    events = record_events(services)
    assert (await client.delete(f"{API}/tasks/{by_carol['id']}",
                                headers=bob.headers)).status_code == 403
    assert (await client.delete(f"{API}/tasks/{by_bob['id']}",
                                headers=bob.headers)).status_code == 204
    assert (await client.delete(f"{API}/tasks/{by_carol['id']}",
                                headers=alice.headers)).status_code == 204
    assert [e for _, e, _ in events.of("emit")] == ["task.deleted", "task.deleted"]
    assert (await client.get(f"{API}/tasks/{by_bob['id']}",
                             headers=alice.headers)).status_code == 404
