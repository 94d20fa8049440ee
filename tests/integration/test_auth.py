"""Register, sign in, refresh rotation with reuse detection, sign out: through the REST app."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any
from uuid import uuid4

import argon2
import httpx
import pytest

from core.models import PageParams
from core.store.audit import AuditKind
from core.tokens import TokenService
from roomcast.factory import Services

PASSWORD = "s3cret-passw0rd"


def _email() -> str:
    return f"user-{uuid4().hex[:10]}@Example.com"


async def register(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> Any:
    r = await client.post("/api/v1/auth/register",
                          json={"email": email, "name": "Ada", "password": password})
    assert r.status_code == 201, r.text
    return r.json()


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> Any:
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return r.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_code(r: httpx.Response) -> str:
    return str(r.json()["error"]["code"])


async def test_register_normalises_email_and_never_returns_a_hash(
    client: httpx.AsyncClient, services: Services
) -> None:
    email = _email()
    user = await register(client, "  " + email + " ")
    assert user["email"] == email.lower()
    assert user["role"] == "member" and user["active"] is True
    assert "password" not in json.dumps(user) and "argon2" not in json.dumps(user)
    stored = await services.ctx.stores.users.by_email(email)
    assert stored is not None and stored.password_hash and stored.password_hash != PASSWORD


async def test_duplicate_email_in_any_case_is_409(client: httpx.AsyncClient) -> None:
    email = _email()
    await register(client, email)
    r = await client.post("/api/v1/auth/register",
                          json={"email": email.upper(), "name": "Eve", "password": PASSWORD})
    assert r.status_code == 409 and error_code(r) == "conflict"


async def test_register_rejects_bad_input_and_creates_nothing(
    client: httpx.AsyncClient, services: Services
) -> None:
    email = _email()
    cases = [
        ({"email": email, "name": "A", "password": "short"}, 422),
        ({"email": email, "name": "A", "password": "x" * 257}, 422),
        ({"email": "not-an-email", "name": "A", "password": PASSWORD}, 422),
        ({"email": email, "name": "", "password": PASSWORD}, 422),
        ({"email": email, "name": "A", "password": PASSWORD, "role": "admin"}, 422),
        ({"email": email, "name": 5, "password": PASSWORD}, 422),
    ]
    for body, status in cases:
        r = await client.post("/api/v1/auth/register", json=body)
        assert r.status_code == status, (body, r.text)
        assert error_code(r) == "validation_error"
    r = await client.post("/api/v1/auth/register", content=b"{not json",
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and error_code(r) == "bad_request"
    assert await services.ctx.stores.users.by_email(email) is None


async def test_login_returns_a_pair_that_works(client: httpx.AsyncClient) -> None:
    email = _email()
    await register(client, email)
    pair = await login(client, email.upper())
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == 900 and pair["user"]["email"] == email.lower()
    me = await client.get("/api/v1/users/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200 and me.json()["email"] == email.lower()
    # A refresh token is not an access token.
    r = await client.get("/api/v1/users/me", headers=bearer(pair["refresh_token"]))
    assert r.status_code == 401


async def test_unknown_email_and_wrong_password_answer_the_same(
    client: httpx.AsyncClient, services: Services
) -> None:
    email = _email()
    user = await register(client, email)
    wrong = await client.post("/api/v1/auth/login", json={"email": email, "password": "nope!"})
    unknown = await client.post("/api/v1/auth/login",
                                json={"email": _email(), "password": PASSWORD})
    for r in (wrong, unknown):
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
    strip = [{k: v for k, v in r.json()["error"].items() if k != "request_id"}
             for r in (wrong, unknown)]
    assert strip[0] == strip[1] and strip[0]["code"] == "invalid_credentials"
    events = await services.ctx.stores.audit.list(PageParams(), subject_id=user["id"])
    assert [e.kind for e in events.items][:1] == ["sign_in_failed"]


async def test_every_sign_in_costs_one_argon2_verification_at_the_same_cost(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Counted where the work is done, in argon2-cffi itself: an unknown email must not be
    # answered faster than a wrong password (no timing: the count and the cost parameters).
    verified: list[argon2.Parameters] = []
    real_verify = argon2.PasswordHasher.verify

    def counting(self: argon2.PasswordHasher, encoded: str | bytes, password: str | bytes) -> Any:
        text = encoded if isinstance(encoded, str) else encoded.decode()
        verified.append(argon2.extract_parameters(text))
        return real_verify(self, encoded, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", counting)
    email, inactive, email_less = _email(), _email(), _email()
    await register(client, email)
    inactive_id = (await register(client, inactive))["id"]
    await services.ctx.stores.users.update(inactive_id, active=False)
    await services.ctx.stores.users.create(email=email_less, name="OIDC only",
                                           password_hash=None)
    stored = await services.ctx.stores.users.by_email(email)
    assert stored is not None and stored.password_hash is not None
    cost = argon2.extract_parameters(stored.password_hash)
    attempts = [("right password", email, PASSWORD, 200), ("wrong password", email, "nope!", 401),
                ("unknown email", _email(), PASSWORD, 401),
                ("deactivated", inactive, PASSWORD, 401),
                ("no password set", email_less, PASSWORD, 401)]
    for what, who, password, status in attempts:
        verified.clear()
        r = await client.post("/api/v1/auth/login", json={"email": who, "password": password})
        assert r.status_code == status, (what, r.text)
        assert verified == [cost], what


async def test_deactivated_account_gets_the_same_401(
    client: httpx.AsyncClient, services: Services
) -> None:
    email = _email()
    user = await register(client, email)
    pair = await login(client, email)
    await services.ctx.stores.users.update(user["id"], active=False)
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 401 and error_code(r) == "invalid_credentials"
    # Existing tokens stop working too.
    r = await client.get("/api/v1/users/me", headers=bearer(pair["access_token"]))
    assert r.status_code == 401
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 401


async def test_refresh_rotates_and_a_replay_revokes_the_family(
    client: httpx.AsyncClient, services: Services
) -> None:
    email = _email()
    await register(client, email)
    first = await login(client, email)
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get("/api/v1/users/me",
                             headers=bearer(second["access_token"]))).status_code == 200
    replay = await client.post("/api/v1/auth/refresh",
                               json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401 and error_code(replay) == "token_reused"
    # The thief's replay also ends the legitimate holder's session.
    later = await client.post("/api/v1/auth/refresh",
                              json={"refresh_token": second["refresh_token"]})
    assert later.status_code == 401 and error_code(later) == "token_revoked"
    page = await services.ctx.stores.audit.list(
        PageParams(), kind=AuditKind.REFRESH_REUSED, subject_id=first["user"]["id"])
    assert page.total == 1


async def test_concurrent_refreshes_with_one_token_cannot_both_win(
    client: httpx.AsyncClient,
) -> None:
    email = _email()
    await register(client, email)
    pair = await login(client, email)
    body = {"refresh_token": pair["refresh_token"]}
    results = await asyncio.gather(
        *(client.post("/api/v1/auth/refresh", json=body) for _ in range(4))
    )
    assert sorted(r.status_code for r in results) == [200, 401, 401, 401]


async def test_other_sessions_survive_a_replay(client: httpx.AsyncClient) -> None:
    email = _email()
    await register(client, email)
    laptop, phone = await login(client, email), await login(client, email)
    await client.post("/api/v1/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
    await client.post("/api/v1/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    assert r.status_code == 200


async def test_bad_refresh_tokens(client: httpx.AsyncClient, services: Services) -> None:
    email = _email()
    user = await register(client, email)
    pair = await login(client, email)
    tokens = services.ctx.tokens
    unknown_family = tokens.issue(sub=user["id"], role="member", typ="refresh",
                                  family="nope").token
    header, payload, sig = pair["refresh_token"].split(".")
    cases = {
        "garbage": ("not.a.token", "unauthorized"),
        "access": (pair["access_token"], "unauthorized"),
        "tampered": (f"{header}.{payload[:-2]}AA.{sig}", "unauthorized"),
        "unknown family": (unknown_family, "unauthorized"),
    }
    for name, (token, code) in cases.items():
        r = await client.post("/api/v1/auth/refresh", json={"refresh_token": token})
        assert r.status_code == 401 and error_code(r) == code, name
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": ""})
    assert r.status_code == 422
    # None of that touched the real session.
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 200


async def test_logout_revokes_the_access_token_and_the_family(client: httpx.AsyncClient) -> None:
    email = _email()
    await register(client, email)
    pair = await login(client, email)
    r = await client.post("/api/v1/auth/logout", headers=bearer(pair["access_token"]))
    assert r.status_code == 204
    r = await client.get("/api/v1/users/me", headers=bearer(pair["access_token"]))
    assert r.status_code == 401
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 401 and error_code(r) == "token_revoked"


async def test_logout_with_a_refresh_token_of_another_session(client: httpx.AsyncClient) -> None:
    email = _email()
    await register(client, email)
    one, two = await login(client, email), await login(client, email)
    r = await client.post("/api/v1/auth/logout", headers=bearer(one["access_token"]),
                          json={"refresh_token": two["refresh_token"]})
    assert r.status_code == 204
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": two["refresh_token"]})
    assert r.status_code == 401
    # Someone else's refresh token is ignored, not revoked.
    other = _email()
    await register(client, other)
    theirs, mine = await login(client, other), await login(client, email)
    await client.post("/api/v1/auth/logout", headers=bearer(mine["access_token"]),
                      json={"refresh_token": theirs["refresh_token"]})
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": theirs["refresh_token"]})
    assert r.status_code == 200


async def test_logout_needs_a_caller(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/auth/logout")
    assert r.status_code == 401


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_forged_access_tokens_are_refused(
    client: httpx.AsyncClient, services: Services
) -> None:
    email = _email()
    await register(client, email)
    pair = await login(client, email)
    header, payload, signature = pair["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    as_admin = _b64({**claims, "role": "admin"})
    forged = {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "tampered": f"{header}.{as_admin}.{signature}",
        "wrong audience": TokenService(
            services.settings.model_copy(update={"jwt_audience": "other"})
        ).issue(sub=claims["sub"], role="admin", typ="access").token,
    }
    for name, token in forged.items():
        r = await client.get("/api/v1/admin/users", headers=bearer(token))
        assert r.status_code == 401 and error_code(r) == "unauthorized", name
    # model_copy skips validation, so a negative lifetime mints an already-expired token.
    expired = TokenService(
        services.settings.model_copy(update={"access_token_ttl_seconds": -60})
    ).issue(sub=claims["sub"], role="member", typ="access").token
    r = await client.get("/api/v1/users/me", headers=bearer(expired))
    assert r.status_code == 401 and error_code(r) == "token_expired"
