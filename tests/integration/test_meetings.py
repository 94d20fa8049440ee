"""Meetings over REST: schedule, list with a status filter, start, end, participants."""

from __future__ import annotations

import httpx

from roomcast.factory import Services
from tests.support.domain import Caller, add_member, create_project, make_user, record_events

API = "/api/v1"


async def new_meeting(client: httpx.AsyncClient, project_id: str, head: Caller,
                      when: str = "2030-05-01T09:00:00+02:00") -> dict[str, object]:
    response = await client.post(
        f"{API}/projects/{project_id}/meetings",
        json={"title": "Standup", "agenda": "status", "scheduled_at": when},
        headers=head.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_lifecycle_emits_into_rooms(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "Alice")
    bob = await make_user(services, "Bob")
    project_id = await create_project(client, alice)
    await add_member(client, project_id, alice, bob)
    meeting = await new_meeting(client, project_id, alice)
    assert (meeting["status"], meeting["created_by"]) == ("scheduled", alice.id)
    assert meeting["scheduled_at"] == "2030-05-01T07:00:00Z"
    assert (meeting["started_at"], meeting["ended_at"]) == (None, None)
    url = f"{API}/meetings/{meeting['id']}"
    assert (await client.get(url, headers=bob.headers)).json() == meeting
    events = record_events(services)
    assert (await client.post(f"{url}/end", headers=alice.headers)).status_code == 409
    assert (await client.post(f"{url}/start", headers=bob.headers)).status_code == 403
    started = await client.post(f"{url}/start", headers=alice.headers)
    assert (started.status_code, started.json()["status"]) == (200, "live")
    assert started.json()["started_at"] is not None
    again = await client.post(f"{url}/start", headers=alice.headers)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "invalid_state")
    assert (await client.post(f"{url}/end", headers=bob.headers)).status_code == 403
    ended = await client.post(f"{url}/end", headers=alice.headers)
    assert (ended.json()["status"], ended.json()["ended_at"] is not None) == ("ended", True)
    rooms = [(room, event) for room, event, _ in events.of("emit")]
    assert rooms == [
        (f"meeting:{meeting['id']}", "meeting.started"),
        (f"project:{project_id}", "meeting.started"),
        (f"meeting:{meeting['id']}", "meeting.ended"),
        (f"project:{project_id}", "meeting.ended"),
    ]


async def test_list_filters_and_paginates(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "Alice")
    project_id = await create_project(client, alice)
    late = await new_meeting(client, project_id, alice, "2030-06-01T10:00:00Z")
    early = await new_meeting(client, project_id, alice, "2030-01-01T10:00:00Z")
    middle = await new_meeting(client, project_id, alice, "2030-03-01T10:00:00Z")
    await client.post(f"{API}/meetings/{middle['id']}/start", headers=alice.headers)
    url = f"{API}/projects/{project_id}/meetings"

    async def listing(**params: object) -> tuple[list[object], int]:
        response = await client.get(url, params=params, headers=alice.headers)
        assert response.status_code == 200, response.text
        return [m["id"] for m in response.json()["items"]], response.json()["total"]

    assert await listing() == ([early["id"], middle["id"], late["id"]], 3)
    assert await listing(status="live") == ([middle["id"]], 1)
    assert await listing(status="scheduled", limit=1, offset=1) == ([late["id"]], 2)
    assert await listing(status="ended") == ([], 0)
    bad = await client.get(url, params={"status": "postponed"}, headers=alice.headers)
    assert bad.status_code == 422


async def test_create_rejects_bad_bodies(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "Alice")
    bob = await make_user(services, "Bob")
    project_id = await create_project(client, alice)
    await add_member(client, project_id, alice, bob)
    url = f"{API}/projects/{project_id}/meetings"
    good = {"title": "Plan", "scheduled_at": "2030-01-01T10:00:00Z"}
    cases = [
        (alice, {"title": "Plan"}),
        (alice, {**good, "scheduled_at": "2030-01-01T10:00:00"}),  # no timezone
        (alice, {**good, "scheduled_at": "next week"}),
        (alice, {**good, "scheduled_at": 1893456000}),  # a Unix time is not ISO 8601
        (alice, {**good, "status": "live"}),
        (alice, {**good, "title": 7}),
    ]
    for caller, body in cases:
        response = await client.post(url, json=body, headers=caller.headers)
        assert response.status_code == 422, body
    assert (await client.post(url, json=good, headers=bob.headers)).status_code == 403
    assert (await client.get(url, headers=alice.headers)).json()["total"] == 0


async def test_participants_are_members(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "Alice")
    bob = await make_user(services, "Bob")
    project_id = await create_project(client, alice)
    await add_member(client, project_id, alice, bob)
    meeting = await new_meeting(client, project_id, alice)
    attendance = services.ctx.stores.attendance
    first = await attendance.open(str(meeting["id"]), bob.id, "sid-1")
    await attendance.close(str(meeting["id"]), "sid-1")
    await attendance.open(str(meeting["id"]), bob.id, "sid-2")  # still there
    await attendance.open("another-meeting", alice.id, "sid-3")
    url = f"{API}/meetings/{meeting['id']}/participants"
    page = (await client.get(url, headers=bob.headers)).json()
    assert page["total"] == 2
    by_id = {p["user_id"]: p for p in page["items"]}
    assert (by_id[alice.id]["name"], by_id[alice.id]["role"]) == ("Alice", "head")
    assert (by_id[bob.id]["name"], by_id[bob.id]["role"]) == ("Bob", "member")
    assert (by_id[alice.id]["visits"], by_id[alice.id]["first_joined_at"]) == (0, None)
    assert by_id[bob.id]["visits"] == 2
    assert by_id[bob.id]["first_joined_at"] == first.joined_at.isoformat().replace("+00:00", "Z")
    assert by_id[bob.id]["last_left_at"] is None  # a stay is still open

    await attendance.close(str(meeting["id"]), "sid-2")
    page = (await client.get(url, headers=bob.headers)).json()
    assert [p["last_left_at"] is not None for p in page["items"] if p["user_id"] == bob.id] == [
        True
    ]
    one = (await client.get(url, params={"limit": 1}, headers=bob.headers)).json()
    assert (len(one["items"]), one["total"]) == (1, 2)
