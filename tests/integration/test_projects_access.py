"""A non-member probing a project's resources gets the answer a missing id gets (404, same
message), on every route; a member trying a head's action gets 403; nothing changes."""

from __future__ import annotations

from typing import Any

import httpx

from api.routes import meeting_states, meetings, projects, tasks
from roomcast.factory import Services
from tests.support.domain import Caller, add_member, create_project, make_user

API = "/api/v1"

# method, path, body; {p} project, {m} meeting, {t} task, {u} a member's user id.
PROJECT_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/projects/{p}", None),
    ("PATCH", "/projects/{p}", {"name": "mine now"}),
    ("DELETE", "/projects/{p}", None),
    ("GET", "/projects/{p}/members", None),
    ("GET", "/projects/{p}/members/search?q=a", None),
    ("GET", "/projects/{p}/candidates?q=ab", None),
    ("POST", "/projects/{p}/members", {"user_id": "{x}"}),
    ("PATCH", "/projects/{p}/members/{u}", {"role": "head"}),
    ("DELETE", "/projects/{p}/members/{u}", None),
    ("POST", "/projects/{p}/meetings", {"title": "m", "scheduled_at": "2030-01-01T00:00:00Z"}),
    ("GET", "/projects/{p}/meetings", None),
    ("GET", "/meetings/{m}", None),
    ("POST", "/meetings/{m}/start", None),
    ("POST", "/meetings/{m}/end", None),
    ("PATCH", "/meetings/{m}", {"title": "x"}),
    ("POST", "/meetings/{m}/cancel", None),
    ("POST", "/meetings/{m}/remind", None),
    ("DELETE", "/meetings/{m}", None),
    ("GET", "/projects/{p}/invitations", None),
    ("POST", "/projects/{p}/invitations", {"email": "new@example.com"}),
    ("GET", "/projects/{p}/engagement", None),
    ("GET", "/projects/{p}/engagement.csv", None),
    ("PUT", "/projects/{p}/mute", None),
    ("DELETE", "/projects/{p}/mute", None),
    ("GET", "/meetings/{m}/participants", None),
    ("POST", "/projects/{p}/tasks", {"title": "t"}),
    ("GET", "/projects/{p}/tasks", None),
    ("GET", "/projects/{p}/tasks/stats", None),
    ("GET", "/tasks/{t}", None),
    ("PATCH", "/tasks/{t}", {"title": "x"}),
    ("DELETE", "/tasks/{t}", None),
]
HEAD_ONLY = {
    ("PATCH", "/projects/{p}"), ("DELETE", "/projects/{p}"),
    ("GET", "/projects/{p}/candidates?q=ab"),
    ("POST", "/projects/{p}/members"), ("PATCH", "/projects/{p}/members/{u}"),
    ("DELETE", "/projects/{p}/members/{u}"), ("POST", "/projects/{p}/meetings"),
    ("POST", "/meetings/{m}/start"), ("POST", "/meetings/{m}/end"), ("DELETE", "/tasks/{t}"),
    ("PATCH", "/meetings/{m}"), ("POST", "/meetings/{m}/cancel"), ("POST", "/meetings/{m}/remind"),
    ("DELETE", "/meetings/{m}"), ("GET", "/projects/{p}/invitations"),
    ("POST", "/projects/{p}/invitations"), ("GET", "/projects/{p}/engagement"),
    ("GET", "/projects/{p}/engagement.csv"),
}


async def seed(client: httpx.AsyncClient, services: Services) -> dict[str, Any]:
    head = await make_user(services, "Head")
    member = await make_user(services, "Member")
    other = await make_user(services, "Other")
    outsider = await make_user(services, "Outsider")
    project_id = await create_project(client, head)
    await add_member(client, project_id, head, member)
    await add_member(client, project_id, head, other)
    meeting = await client.post(f"{API}/projects/{project_id}/meetings",
                                json={"title": "m", "scheduled_at": "2030-01-01T00:00:00Z"},
                                headers=head.headers)
    task = await client.post(f"{API}/projects/{project_id}/tasks", json={"title": "t"},
                             headers=head.headers)
    return {"head": head, "member": member, "outsider": outsider, "p": project_id,
            "m": meeting.json()["id"], "t": task.json()["id"], "u": other.id, "x": outsider.id}


def fill(template: str, ids: dict[str, Any]) -> str:
    return template.format(**{k: v for k, v in ids.items() if isinstance(v, str)})


async def snapshot(client: httpx.AsyncClient, ids: dict[str, Any]) -> list[Any]:
    head: Caller = ids["head"]
    urls = [f"/projects/{ids['p']}", f"/projects/{ids['p']}/members", f"/meetings/{ids['m']}",
            f"/tasks/{ids['t']}", f"/projects/{ids['p']}/tasks"]
    return [(await client.get(API + url, headers=head.headers)).json() for url in urls]


async def call(client: httpx.AsyncClient, who: Caller, method: str, path: str, body: Any,
               ids: dict[str, Any]) -> httpx.Response:
    payload = None if body is None else {k: fill(v, ids) if isinstance(v, str) else v
                                         for k, v in body.items()}
    return await client.request(method, API + fill(path, ids), json=payload,
                                headers=who.headers)


async def test_non_member_gets_404_like_a_missing_id(
    client: httpx.AsyncClient, services: Services
) -> None:
    ids = await seed(client, services)
    before = await snapshot(client, ids)
    missing = {**ids, "p": "0" * 32, "m": "0" * 32, "t": "0" * 32}
    for method, path, body in PROJECT_ROUTES:
        probe = await call(client, ids["outsider"], method, path, body, ids)
        absent = await call(client, ids["outsider"], method, path, body, missing)
        assert probe.status_code == 404, (method, path, probe.text)
        assert probe.json()["error"]["code"] == absent.json()["error"]["code"] == "not_found"
        assert probe.json()["error"]["message"] == absent.json()["error"]["message"]
    assert await snapshot(client, ids) == before


async def test_member_gets_403_for_head_actions(
    client: httpx.AsyncClient, services: Services
) -> None:
    ids = await seed(client, services)
    before = await snapshot(client, ids)
    for method, path, body in PROJECT_ROUTES:
        if (method, path) in HEAD_ONLY:
            response = await call(client, ids["member"], method, path, body, ids)
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["error"]["code"] == "forbidden"
    assert await snapshot(client, ids) == before


def test_every_project_route_is_probed() -> None:
    declared = {
        (e.method, e.path.removeprefix(API))
        for router in (projects.router, meetings.router, meeting_states.router, tasks.router)
        for e in router.endpoints if "{" in e.path
    }
    probed = {
        (method, path.split("?")[0].replace("{p}", "{project_id}").replace("{m}", "{meeting_id}")
         .replace("{t}", "{task_id}").replace("{u}", "{user_id}"))
        for method, path, _ in PROJECT_ROUTES
    }
    assert declared - probed == set()
