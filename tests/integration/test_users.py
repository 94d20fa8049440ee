"""/users/me: read, rename, change password, delete."""

from __future__ import annotations

from uuid import uuid4

import httpx

from core.models import PageParams, Role
from core.store.audit import AuditKind
from roomcast.factory import Services

PASSWORD = "s3cret-passw0rd"


async def signed_in(client: httpx.AsyncClient, email: str | None = None) -> dict[str, str]:
    email = email or f"me-{uuid4().hex[:10]}@example.com"
    r = await client.post("/api/v1/auth/register",
                          json={"email": email, "name": "Me", "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    pair = r.json()
    return {"email": email, "id": pair["user"]["id"], "access": pair["access_token"],
            "refresh": pair["refresh_token"]}


def auth(session: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['access']}"}


async def test_me_needs_a_token(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/users/me")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


async def test_rename(client: httpx.AsyncClient) -> None:
    me = await signed_in(client)
    r = await client.patch("/api/v1/users/me", headers=auth(me), json={"name": "  Grace  "})
    assert r.status_code == 200 and r.json()["name"] == "Grace"
    assert (await client.get("/api/v1/users/me", headers=auth(me))).json()["name"] == "Grace"


async def test_patch_refuses_bad_input_and_changes_nothing(client: httpx.AsyncClient) -> None:
    me = await signed_in(client)
    bodies = [{"name": ""}, {"role": "admin"}, {"email": "x@y.z"},
              {"password": "short", "current_password": PASSWORD}, {"password": "long-enough"}]
    for body in bodies:
        r = await client.patch("/api/v1/users/me", headers=auth(me), json=body)
        assert r.status_code == 422, (body, r.text)
    r = await client.get("/api/v1/users/me", headers=auth(me))
    assert r.json()["name"] == "Me" and r.json()["role"] == "member"


async def test_patch_refuses_nulls_field_by_field(client: httpx.AsyncClient) -> None:
    me = await signed_in(client)
    cases = [({"name": None}, ["name"]), ({"password": None}, ["password"]),
             ({"password": "brand-new-pw", "current_password": None}, ["current_password"]),
             ({"name": "New", "password": None}, ["password"]), ({"name": 5}, ["name"])]
    for body, fields in cases:
        r = await client.patch("/api/v1/users/me", headers=auth(me), json=body)
        assert r.status_code == 422, (body, r.text)
        assert [d["loc"] for d in r.json()["error"]["details"]] == [["body", f] for f in fields]
    assert (await client.get("/api/v1/users/me", headers=auth(me))).json()["name"] == "Me"
    r = await client.post("/api/v1/auth/login", json={"email": me["email"], "password": PASSWORD})
    assert r.status_code == 200


async def test_password_change_needs_the_current_password(client: httpx.AsyncClient) -> None:
    me = await signed_in(client)
    r = await client.patch("/api/v1/users/me", headers=auth(me),
                           json={"password": "brand-new-pw", "current_password": "wrong-one"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = await client.post("/api/v1/auth/login", json={"email": me["email"],
                                                      "password": "brand-new-pw"})
    assert r.status_code == 401


async def test_password_change_ends_refresh_sessions(
    client: httpx.AsyncClient, services: Services
) -> None:
    me = await signed_in(client)
    r = await client.patch("/api/v1/users/me", headers=auth(me),
                           json={"password": "brand-new-pw", "current_password": PASSWORD})
    assert r.status_code == 200
    old = await client.post("/api/v1/auth/login", json={"email": me["email"],
                                                        "password": PASSWORD})
    assert old.status_code == 401
    new = await client.post("/api/v1/auth/login", json={"email": me["email"],
                                                        "password": "brand-new-pw"})
    assert new.status_code == 200
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": me["refresh"]})
    assert r.status_code == 401
    events = await services.ctx.stores.audit.list(PageParams(), kind=AuditKind.PASSWORD_CHANGED,
                                                  subject_id=me["id"])
    assert events.total == 1


async def test_delete_removes_the_account_and_its_tokens(
    client: httpx.AsyncClient, services: Services
) -> None:
    me = await signed_in(client)
    second = await client.post("/api/v1/auth/login",
                               json={"email": me["email"], "password": PASSWORD})
    other_access = second.json()["access_token"]
    _, raw = await services.ctx.stores.api_keys.create(name="ci", owner_id=me["id"],
                                                         created_by=me["id"])
    assert (await client.delete("/api/v1/users/me", headers=auth(me))).status_code == 204
    assert await services.ctx.stores.users.get(me["id"]) is None
    for headers in (auth(me), {"Authorization": f"Bearer {other_access}"}, {"X-API-Key": raw}):
        assert (await client.get("/api/v1/users/me", headers=headers)).status_code == 401
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": me["refresh"]})
    assert r.status_code == 401
    r = await client.post("/api/v1/auth/login", json={"email": me["email"], "password": PASSWORD})
    assert r.status_code == 401
    events = await services.ctx.stores.audit.list(PageParams(), kind=AuditKind.ACCOUNT_DELETED,
                                                  subject_id=me["id"])
    assert events.total == 1
    # The email is free again.
    r = await client.post("/api/v1/auth/register",
                          json={"email": me["email"], "name": "Again", "password": PASSWORD})
    assert r.status_code == 201


async def test_last_admin_cannot_delete_themselves(
    client: httpx.AsyncClient, services: Services
) -> None:
    me = await signed_in(client)
    await services.ctx.stores.users.update(me["id"], role=Role.ADMIN)
    r = await client.delete("/api/v1/users/me", headers=auth(me))
    assert r.status_code == 409
    assert await services.ctx.stores.users.get(me["id"]) is not None
