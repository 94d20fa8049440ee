"""Who gets what, for every REST endpoint: a matrix generated from the route table.

Each endpoint declares who it serves (`api/routing.py`, `Access`). Every endpoint is called as
an admin, a project head, a member, an outsider, a deactivated user, a deleted user and with
no token, on real ids of one project's resources, and each answer is checked against what the
declaration implies: 401 without a valid account, 403 for a non-admin on admin routes and for
a member on head routes, 404 for an outsider on anything of the project (as if it did not
exist). Calls that would succeed are made only for reads, so the world stays as built; the
denials are made for every method, with a valid body, so that it is the authorization and not
the validation that answers.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image

from api.app import all_endpoints
from api.routing import Endpoint, NoModel
from core.models import Role
from roomcast.factory import Services
from tests.integration.workers.conftest import Member, upload, wait_job
from tests.support.domain import make_user

ROLES = ("admin", "head", "member", "outsider", "deactivated", "deleted", "anonymous")
UNSIGNED = ("deactivated", "deleted", "anonymous")
# Endpoints anyone may call, tokens or not. A new one must be added here on purpose.
PUBLIC = {
    "GET /health/live", "GET /health/ready", "GET /metrics", "GET /api/v1/openapi.json",
    "GET /api/v1/docs", "POST /api/v1/auth/register", "POST /api/v1/auth/login",
    "POST /api/v1/auth/refresh", "GET /api/v1/auth/oidc/login", "GET /api/v1/auth/oidc/callback",
    "GET /api/v1/calendar/{key}.ics", "POST /api/v1/auth/password-reset",
    "POST /api/v1/auth/password-reset/confirm", "POST /api/v1/auth/verify-email",
    "POST /api/v1/invitations/preview",
    # The sign-up mode and whether OpenID Connect is on: what a sign-in page shows.
    "GET /api/v1/auth/options",
}
LATER = (datetime.now(UTC) + timedelta(days=30)).isoformat()
# A body that passes validation, for each endpoint a denial must reach past its parsing.
BODIES: dict[str, dict[str, Any]] = {
    "PATCH /api/v1/projects/{project_id}": {"name": "Renamed"},
    "POST /api/v1/projects/{project_id}/members": {"email": "nobody@example.com"},
    "PATCH /api/v1/projects/{project_id}/members/{user_id}": {"role": "member"},
    "POST /api/v1/projects/{project_id}/meetings": {"title": "M", "scheduled_at": LATER},
    "POST /api/v1/projects/{project_id}/tasks": {"title": "T"},
    "PATCH /api/v1/tasks/{task_id}": {"title": "T2"},
    "POST /api/v1/datasets/{dataset_id}/analyses": {"algorithm": "kmeans", "k": 2},
    "POST /api/v1/models/{model_id}/predict": {"rows": [{"x": 1.0, "y": 2.0}]},
    "PATCH /api/v1/meetings/{meeting_id}": {"title": "M2"},
    "POST /api/v1/projects/{project_id}/invitations": {"email": "guest@example.com"},
    "POST /api/v1/datasets/{dataset_id}/records": {"values": {"x": 1, "y": 2}},
    "PATCH /api/v1/datasets/{dataset_id}/records/{row}": {"values": {"y": 3}},
    "POST /api/v1/datasets/{dataset_id}/visualizations": {"kind": "histogram", "x": "x"},
    "PATCH /api/v1/documents/{document_id}": {"description": "a dot"},
}
# Values for required query parameters, likewise.
QUERIES: dict[str, dict[str, str]] = {
    "GET /api/v1/projects/{project_id}/members/search": {"q": "someone"},
    "GET /api/v1/projects/{project_id}/candidates": {"q": "someone"},
}
POINTS = b"x,y\n" + b"".join(b"%d,%d\n" % (i, i % 7) for i in range(40))


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "navy").save(out, "PNG")
    return out.getvalue()


@dataclass
class World:
    headers: dict[str, dict[str, str]]
    ids: dict[str, str]


def _key(endpoint: Endpoint) -> str:
    return f"{endpoint.method} {endpoint.path}"


async def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code < 300, response.text
    return dict(response.json()) if response.content else {}


async def _build(services: Services, http: httpx.AsyncClient) -> World:
    people = {
        "admin": await make_user(services, "admin", role=Role.ADMIN),
        **{name: await make_user(services, name)
           for name in ("head", "member", "outsider", "deactivated", "deleted")},
    }
    headers = {name: caller.headers for name, caller in people.items()}
    headers["anonymous"] = {}
    h = headers["head"]
    project = await _ok(await http.post("/api/v1/projects", json={"name": "P"}, headers=h))
    pid = project["id"]
    for name in ("member", "deactivated", "deleted"):
        await _ok(await http.post(f"/api/v1/projects/{pid}/members",
                                  json={"user_id": people[name].id}, headers=h))
    meeting = await _ok(await http.post(f"/api/v1/projects/{pid}/meetings", json={
        "title": "Weekly", "scheduled_at": LATER,
        "recurrence": {"rule": "FREQ=WEEKLY;COUNT=3"}}, headers=h))
    task = await _ok(await http.post(f"/api/v1/projects/{pid}/tasks", json={"title": "T"},
                                     headers=h))
    invitation = await _ok(await http.post(f"/api/v1/projects/{pid}/invitations",
                                           json={"email": "later@example.com"}, headers=h))
    head = Member(people["head"], pid)
    sent = await _ok(await upload(http, head, "points.csv", POINTS))
    ingested = await wait_job(http, head, sent["job_id"])
    dataset_id = ingested["result"]["dataset_id"]
    started = await _ok(await http.post(f"/api/v1/datasets/{dataset_id}/analyses",
                                        json={"algorithm": "kmeans", "k": 2}, headers=h))
    analysed = await wait_job(http, head, started["job_id"])
    assert analysed["status"] == "succeeded", analysed
    document = await _ok(await http.post(f"/api/v1/projects/{pid}/documents",
                                         files={"file": ("dot.png", _png())}, headers=h))
    previewed = await wait_job(http, head, document["version"]["preview"]["job_id"])
    assert previewed["status"] == "succeeded", previewed
    chart = await _ok(await http.post(f"/api/v1/datasets/{dataset_id}/visualizations",
                                      json={"kind": "histogram", "x": "x"}, headers=h))
    charted = await wait_job(http, head, chart["job_id"])
    assert charted["status"] == "succeeded", charted
    notes = await _ok(await http.get("/api/v1/notifications", headers=headers["member"]))
    assert notes["items"], "the member was told of being added: a notification to point at"
    await _ok(await http.patch(f"/api/v1/admin/users/{people['deactivated'].id}",
                               json={"active": False}, headers=headers["admin"]))
    assert (await http.delete("/api/v1/users/me", headers=headers["deleted"])).status_code == 204
    ids = {
        "project_id": pid, "meeting_id": meeting["id"], "series_id": meeting["series_id"],
        "task_id": task["id"], "invitation_id": invitation["id"],
        "upload_id": sent["upload"]["id"], "dataset_id": dataset_id,
        "job_id": started["job_id"], "model_id": analysed["result"]["model_id"],
        "name": "clusters.png", "notification_id": notes["items"][0]["id"],
        # Another's membership (a member may only leave); any user for the admin routes.
        "user_id": people["head"].id, "key_id": "k" * 24, "mail_id": "m" * 24,
        "document_id": document["document"]["id"], "number": "1", "row": "0",
        "visualization_id": chart["id"], "format": "png",
    }
    return World(headers, ids)


def _expected(access: str, role: str) -> set[int] | None:
    """The statuses `role` may get on an endpoint declaring `access`; None: it is allowed."""
    if role in UNSIGNED:
        return {401}
    if access == "admin":
        return None if role == "admin" else {403}
    if access == "user":
        return None
    if access == "owner":
        return None if role == "member" else {404}  # the notification is the member's
    if role == "outsider":
        return {404}
    if access == "head" and role == "member":
        return {403}
    return None


async def _call(http: httpx.AsyncClient, endpoint: Endpoint, world: World,
                role: str) -> httpx.Response:
    path = endpoint.path
    for name, value in world.ids.items():
        path = path.replace("{" + name + "}", value)
    kwargs: dict[str, Any] = {"headers": world.headers[role],
                              "params": QUERIES.get(_key(endpoint), {})}
    if endpoint.raw_body == "multipart/form-data":
        kwargs["files"] = {"file": ("more.csv", POINTS)}
    elif endpoint.body is not None:
        kwargs["json"] = BODIES.get(_key(endpoint), {})
    return await http.request(endpoint.method, path, **kwargs)


@pytest.fixture
def settings(make_settings: Any) -> Any:
    # Some 600 requests from one address in a few seconds.
    return make_settings(rate_limit_ip_per_minute=100_000, rate_limit_user_per_minute=100_000)


async def test_every_endpoint_answers_each_role_as_it_declares(
    services: Services, client: httpx.AsyncClient
) -> None:
    endpoints = all_endpoints()
    public = {_key(e) for e in endpoints if e.access == "public"}
    assert public == PUBLIC, "endpoints open to anyone changed: review them, then PUBLIC"
    world = await _build(services, client)
    wrong: list[str] = []
    checked = 0
    for endpoint in endpoints:
        if endpoint.access == "public":
            continue
        scoped = endpoint.access in ("member", "head", "owner")
        if scoped and endpoint.body is not None and _key(endpoint) not in BODIES:
            wrong.append(f"{_key(endpoint)}: no valid body in BODIES to reach its checks")
            continue
        required = [name for name, field in (endpoint.query or NoModel).model_fields.items()
                    if field.is_required()]
        if scoped and required and _key(endpoint) not in QUERIES:
            wrong.append(f"{_key(endpoint)}: no {required} in QUERIES to reach its checks")
            continue
        for role in ROLES:
            expected = _expected(endpoint.access, role)
            if expected is None and endpoint.method != "GET":
                continue  # an allowed change would alter the world for the next calls
            response = await _call(client, endpoint, world, role)
            checked += 1
            status = response.status_code
            if expected is None:
                fine = status < 500 and status not in (401, 403, 404)
            else:
                fine = status in expected
            if not fine:
                wrong.append(f"{_key(endpoint)} as {role} ({endpoint.access}): {status} "
                             f"{response.text[:160]}")
    assert not wrong, "\n".join(wrong)
    assert checked > 300  # every endpoint, not a few
