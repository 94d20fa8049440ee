"""Admin routes: accounts, roles, deactivation, the audit log, and service API keys."""

from __future__ import annotations

from uuid import uuid4

import httpx

from core.models import PageParams, Role
from roomcast.factory import Services

PASSWORD = "s3cret-passw0rd"


async def account(
    client: httpx.AsyncClient, services: Services, role: Role = Role.MEMBER
) -> dict[str, str]:
    email = f"adm-{uuid4().hex[:10]}@example.com"
    r = await client.post("/api/v1/auth/register",
                          json={"email": email, "name": "N", "password": PASSWORD})
    user_id = r.json()["id"]
    if role != Role.MEMBER:
        await services.ctx.stores.users.update(user_id, role=role)
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    return {"id": user_id, "email": email, "access": r.json()["access_token"],
            "refresh": r.json()["refresh_token"]}


def auth(who: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {who['access']}"}


async def test_admin_routes_refuse_members(client: httpx.AsyncClient, services: Services) -> None:
    member = await account(client, services)
    head = await account(client, services, Role.HEAD)
    calls = [("GET", "/api/v1/admin/users", None), ("GET", "/api/v1/admin/audit", None),
             ("PATCH", f"/api/v1/admin/users/{member['id']}", {"role": "admin"}),
             ("POST", "/api/v1/admin/api-keys", {"name": "k"}),
             ("GET", "/api/v1/admin/api-keys", None)]
    for who in (member, head):
        for method, url, body in calls:
            r = await client.request(method, url, headers=auth(who), json=body)
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", url
        r = await client.get("/api/v1/admin/users")
        assert r.status_code == 401
    stored = await services.ctx.stores.users.get(member["id"])
    assert stored is not None and stored.role == Role.MEMBER
    assert (await services.ctx.stores.api_keys.list(PageParams())).total == 0


async def test_list_users_paginates_and_filters(
    client: httpx.AsyncClient, services: Services
) -> None:
    admin = await account(client, services, Role.ADMIN)
    members = [await account(client, services) for _ in range(3)]
    await services.ctx.stores.users.update(members[0]["id"], active=False)
    r = await client.get("/api/v1/admin/users", headers=auth(admin),
                         params={"limit": 2, "offset": 0})
    page = r.json()
    assert r.status_code == 200 and page["total"] == 4 and len(page["items"]) == 2
    assert all("password_hash" not in u for u in page["items"])
    r = await client.get("/api/v1/admin/users", headers=auth(admin), params={"offset": 2})
    ids = [u["id"] for u in page["items"] + r.json()["items"]]
    assert sorted(ids) == sorted([admin["id"], *(m["id"] for m in members)])
    r = await client.get("/api/v1/admin/users", headers=auth(admin), params={"role": "admin"})
    assert [u["id"] for u in r.json()["items"]] == [admin["id"]]
    r = await client.get("/api/v1/admin/users", headers=auth(admin), params={"active": "false"})
    assert [u["id"] for u in r.json()["items"]] == [members[0]["id"]]
    for bad in ({"limit": 0}, {"limit": 10_000}, {"role": "king"}, {"offset": -1},
                {"active": "maybe"}, {"sort": "x"}):
        r = await client.get("/api/v1/admin/users", headers=auth(admin), params=bad)
        assert r.status_code == 422, bad


async def test_role_change_takes_effect_at_once_and_is_audited(
    client: httpx.AsyncClient, services: Services
) -> None:
    admin = await account(client, services, Role.ADMIN)
    member = await account(client, services)
    r = await client.patch(f"/api/v1/admin/users/{member['id']}", headers=auth(admin),
                           json={"role": "admin"})
    assert r.status_code == 200 and r.json()["role"] == "admin"
    # The member's existing token now carries admin rights: the stored role wins.
    assert (await client.get("/api/v1/admin/users", headers=auth(member))).status_code == 200
    r = await client.get("/api/v1/admin/audit", headers=auth(admin),
                         params={"kind": "role_changed"})
    event = r.json()["items"][0]
    assert event["actor_id"] == admin["id"] and event["subject_id"] == member["id"]
    assert event["data"] == {"from": "member", "to": "admin"}


async def test_deactivation_stops_tokens_and_is_audited(
    client: httpx.AsyncClient, services: Services
) -> None:
    admin = await account(client, services, Role.ADMIN)
    member = await account(client, services)
    r = await client.patch(f"/api/v1/admin/users/{member['id']}", headers=auth(admin),
                           json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    assert (await client.get("/api/v1/users/me", headers=auth(member))).status_code == 401
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": member["refresh"]})
    assert r.status_code == 401
    r = await client.get("/api/v1/admin/audit", headers=auth(admin),
                         params={"kind": "deactivated", "actor_id": admin["id"]})
    assert r.json()["total"] == 1
    r = await client.patch(f"/api/v1/admin/users/{member['id']}", headers=auth(admin),
                           json={"active": True})
    assert r.status_code == 200
    r = await client.post("/api/v1/auth/login", json={"email": member["email"],
                                                      "password": PASSWORD})
    assert r.status_code == 200


async def test_patch_user_errors_change_nothing(
    client: httpx.AsyncClient, services: Services
) -> None:
    admin = await account(client, services, Role.ADMIN)
    member = await account(client, services)
    url = f"/api/v1/admin/users/{member['id']}"
    assert (await client.patch("/api/v1/admin/users/nope", headers=auth(admin),
                               json={"role": "head"})).status_code == 404
    for body in ({"role": "owner"}, {"active": "perhaps"}, {"name": "x"}):
        assert (await client.patch(url, headers=auth(admin), json=body)).status_code == 422
    # The last active admin can neither demote nor deactivate themselves.
    for body in ({"role": "member"}, {"active": False}):
        r = await client.patch(f"/api/v1/admin/users/{admin['id']}", headers=auth(admin),
                               json=body)
        assert r.status_code == 409, body
    stored = await services.ctx.stores.users.get(member["id"])
    assert stored is not None and stored.role == Role.MEMBER and stored.active
    r = await client.get("/api/v1/admin/audit", headers=auth(admin),
                         params={"kind": "role_changed"})
    assert r.json()["total"] == 0


async def test_patch_user_takes_only_json_booleans_and_no_nulls(
    client: httpx.AsyncClient, services: Services
) -> None:
    admin = await account(client, services, Role.ADMIN)
    member = await account(client, services)
    inactive = await account(client, services)
    await services.ctx.stores.users.update(inactive["id"], active=False)
    cases = [
        (member, {"active": 0}, ["active"]), (member, {"active": "false"}, ["active"]),
        (member, {"active": None}, ["active"]), (member, {"role": None}, ["role"]),
        (member, {"role": None, "active": None}, ["role", "active"]),
        # One bad field refuses the whole body: the good role change is not made either.
        (member, {"role": "admin", "active": 0}, ["active"]),
        (inactive, {"active": "yes"}, ["active"]), (inactive, {"active": 1}, ["active"]),
    ]
    for who, body, fields in cases:
        r = await client.patch(f"/api/v1/admin/users/{who['id']}", headers=auth(admin),
                               json=body)
        assert r.status_code == 422, (body, r.text)
        error = r.json()["error"]
        assert error["code"] == "validation_error", body
        assert sorted(d["loc"] for d in error["details"]) == sorted(
            ["body", f] for f in fields), (body, error["details"])
    for who, active in ((member, True), (inactive, False)):
        stored = await services.ctx.stores.users.get(who["id"])
        assert stored is not None and (stored.role, stored.active) == (Role.MEMBER, active)
    for kind in ("role_changed", "deactivated", "reactivated"):
        r = await client.get("/api/v1/admin/audit", headers=auth(admin), params={"kind": kind})
        assert r.json()["total"] == 0, kind


async def test_audit_log_newest_first_with_sign_ins(
    client: httpx.AsyncClient, services: Services
) -> None:
    admin = await account(client, services, Role.ADMIN)
    member = await account(client, services)
    await client.post("/api/v1/auth/login", json={"email": member["email"], "password": "bad"})
    r = await client.get("/api/v1/admin/audit", headers=auth(admin), params={"limit": 3})
    body = r.json()
    assert [e["kind"] for e in body["items"]] == ["sign_in_failed", "sign_in", "registered"]
    assert body["total"] >= 5 and body["limit"] == 3
    r = await client.get("/api/v1/admin/audit", headers=auth(admin),
                         params={"kind": "sign_in", "actor_id": member["id"]})
    assert r.json()["total"] == 1
    assert (await client.get("/api/v1/admin/audit", headers=auth(admin),
                             params={"kind": "nonsense"})).status_code == 422


async def test_api_key_lifecycle(client: httpx.AsyncClient, services: Services) -> None:
    admin = await account(client, services, Role.ADMIN)
    bot = await account(client, services)
    r = await client.post("/api/v1/admin/api-keys", headers=auth(admin),
                          json={"name": "ingest bot", "owner_id": bot["id"]})
    assert r.status_code == 201, r.text
    created = r.json()
    raw = created["key"]
    assert raw.startswith("rck_") and created["prefix"] == raw[:12]
    assert created["owner_id"] == bot["id"] and "key_hash" not in created
    # Only a hash is stored.
    stored = await services.ctx.stores.api_keys.get(created["id"])
    assert stored is not None and raw not in stored.model_dump_json()
    for headers in ({"X-API-Key": raw}, {"Authorization": f"Bearer {raw}"}):
        me = await client.get("/api/v1/users/me", headers=headers)
        assert me.status_code == 200 and me.json()["id"] == bot["id"]
    listed = (await client.get("/api/v1/admin/api-keys", headers=auth(admin))).json()
    assert [k["id"] for k in listed["items"]] == [created["id"]]
    assert listed["items"][0]["last_used_at"] is not None
    assert "key" not in listed["items"][0] and raw not in str(listed)
    r = await client.delete(f"/api/v1/admin/api-keys/{created['id']}", headers=auth(admin))
    assert r.status_code == 204
    assert (await client.get("/api/v1/users/me", headers={"X-API-Key": raw})).status_code == 401
    r = await client.delete(f"/api/v1/admin/api-keys/{created['id']}", headers=auth(admin))
    assert r.status_code == 404
    listed = (await client.get("/api/v1/admin/api-keys", headers=auth(admin))).json()
    assert listed["total"] == 0
    r = await client.get("/api/v1/admin/api-keys", headers=auth(admin),
                         params={"include_revoked": "true"})
    assert r.json()["items"][0]["revoked_at"] is not None
    kinds = [e["kind"] for e in (await client.get(
        "/api/v1/admin/audit", headers=auth(admin), params={"limit": 2})).json()["items"]]
    assert kinds == ["api_key_revoked", "api_key_created"]


async def test_api_key_defaults_to_the_caller_and_bad_keys_fail(
    client: httpx.AsyncClient, services: Services
) -> None:
    admin = await account(client, services, Role.ADMIN)
    r = await client.post("/api/v1/admin/api-keys", headers=auth(admin), json={"name": "mine"})
    raw = r.json()["key"]
    assert r.json()["owner_id"] == admin["id"]
    for bad in (raw[:-1] + ("A" if raw[-1] != "A" else "B"), "rck_", "rck_short", raw + "x"):
        r = await client.get("/api/v1/users/me", headers={"X-API-Key": bad})
        assert r.status_code == 401, bad
    assert (await client.post("/api/v1/admin/api-keys", headers=auth(admin),
                              json={"name": "x", "owner_id": "ghost"})).status_code == 404
    for body in ({}, {"name": ""}, {"name": "x", "scopes": ["all"]}):
        r = await client.post("/api/v1/admin/api-keys", headers=auth(admin), json=body)
        assert r.status_code == 422, body
    assert (await client.delete("/api/v1/admin/api-keys/ghost",
                                headers=auth(admin))).status_code == 404
