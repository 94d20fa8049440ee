"""Every list route of the API pages alike: `limit` and `offset` with documented bounds that
the route enforces (422 in the envelope past them), and an answer with the total."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import pytest

from api.app import all_endpoints
from api.openapi import build_openapi
from core.models import Role
from roomcast.factory import Services
from tests.support.domain import make_user

SPEC = build_openapi(all_endpoints(), title="Roomcast", version="test")
PAGE_FIELDS = {"total", "limit", "offset"}


def _schema(ref_or_schema: dict[str, Any]) -> dict[str, Any]:
    ref = ref_or_schema.get("$ref")
    if ref is None:
        return ref_or_schema
    return SPEC["components"]["schemas"][ref.rsplit("/", 1)[1]]  # type: ignore[no-any-return]


def _answer_schema(op: dict[str, Any]) -> dict[str, Any]:
    content = op["responses"].get("200", {}).get("content", {})
    return _schema(content.get("application/json", {}).get("schema", {}))


def _query(op: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in op["parameters"] if p["in"] == "query"}


# Live snapshots, not lists: who is connected now, busiest first, cut at `limit`. An offset
# into a snapshot that changes from one call to the next would skip or repeat at random, so
# they take no paging; their `limit` bounds are checked below like a page's.
SNAPSHOTS = {"/api/v1/admin/live/connections", "/api/v1/admin/live/rooms"}


def _is_list(op: dict[str, Any]) -> bool:
    query = _query(op)
    return "items" in _answer_schema(op).get("properties", {}) or "limit" in query \
        or "offset" in query


LIST_PATHS = sorted(path for path, ops in SPEC["paths"].items()
                    if "get" in ops and _is_list(ops["get"]) and path not in SNAPSHOTS)


def test_the_list_routes_are_found() -> None:
    # The parametrized tests below are not vacuous: they cover admin and domain lists alike.
    expected = {"/api/v1/admin/users", "/api/v1/admin/audit", "/api/v1/admin/api-keys",
                "/api/v1/projects", "/api/v1/projects/{project_id}/candidates",
                "/api/v1/notifications", "/api/v1/projects/{project_id}/tasks"}
    assert expected <= set(LIST_PATHS)
    assert len(LIST_PATHS) >= 15


@pytest.mark.parametrize("path", LIST_PATHS)
def test_every_list_answers_a_page_with_its_total(path: str) -> None:
    answer = _answer_schema(SPEC["paths"][path]["get"])
    assert set(answer.get("required", [])) >= PAGE_FIELDS, answer
    # The page itself: `items` everywhere but a dataset's `rows`.
    arrays = [name for name, prop in answer["properties"].items() if prop.get("type") == "array"
              and name in answer["required"] and name != "columns"]
    assert arrays in (["items"], ["rows"]), answer
    query = _query(SPEC["paths"][path]["get"])
    assert {"limit", "offset"} <= set(query), sorted(query)


def _url(path: str) -> str:
    # Made-up ids: the query is checked before anything is looked up.
    return path.replace("{", "").replace("}", "-" + uuid4().hex)


def _required(op: dict[str, Any]) -> dict[str, str]:
    # Valid values for the other required parameters (search terms), so only paging is wrong.
    return {name: "ab" for name, p in _query(op).items()
            if p["required"] and name not in ("limit", "offset")}


def assert_refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["request_id"] == response.headers["x-request-id"]
    assert [d["loc"] for d in error["details"]] == [["query", field]], error["details"]


@pytest.mark.parametrize("path", LIST_PATHS)
async def test_paging_past_its_documented_bounds_is_refused(
    path: str, client: httpx.AsyncClient, services: Services
) -> None:
    admin = await make_user(services, "Admin", role=Role.ADMIN)
    op = SPEC["paths"][path]["get"]
    query = _query(op)
    bounds = {name: query[name]["schema"] for name in ("limit", "offset")}
    assert bounds["limit"].get("minimum") == 1 and bounds["offset"].get("minimum") == 0
    assert "maximum" in bounds["limit"] and "maximum" in bounds["offset"], bounds
    url, params = _url(path), _required(op)
    bad = [("limit", 0), ("limit", bounds["limit"]["maximum"] + 1), ("offset", -1),
           ("offset", bounds["offset"]["maximum"] + 1), ("offset", 10**30)]
    for name, value in bad:
        response = await client.get(url, params={**params, name: value},
                                    headers=admin.headers)
        assert_refused(response, name)
    # The documented maximum itself is a valid page request (the made-up id may be missing).
    at_bound = {**params, "limit": bounds["limit"]["maximum"],
                "offset": bounds["offset"]["maximum"]}
    response = await client.get(url, params=at_bound, headers=admin.headers)
    assert response.status_code in (200, 404), response.text


@pytest.mark.parametrize("path", sorted(SNAPSHOTS))
async def test_a_live_snapshot_is_cut_at_a_bounded_limit(
    path: str, client: httpx.AsyncClient, services: Services
) -> None:
    admin = await make_user(services, "Admin", role=Role.ADMIN)
    query = _query(SPEC["paths"][path]["get"])
    assert set(query) == {"limit"}
    bound = query["limit"]["schema"]
    assert bound["minimum"] == 1 and "maximum" in bound
    for value in (0, bound["maximum"] + 1):
        assert_refused(await client.get(path, params={"limit": value}, headers=admin.headers),
                       "limit")
    answer = await client.get(path, params={"limit": bound["maximum"]}, headers=admin.headers)
    assert answer.status_code == 200, answer.text
