"""OpenID Connect sign-in against a fake provider served in-process (httpx ASGI transport)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse
from uuid import uuid4

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.app import create_app
from api.oidc import build_oidc_client
from core.models import PageParams
from core.settings import Settings
from core.store.audit import AuditKind
from roomcast.factory import Services, build_services

ISSUER = "https://idp.example.test"
CLIENT_ID = "roomcast-client"
MakeSettings = Callable[..., Settings]


@dataclass
class FakeProvider:
    """Just enough of an OpenID provider: discovery, JWKS, and a token endpoint that answers
    an ID token with the claims the test queued for a code."""

    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, {"kid": "idp-1"}))
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/jwks", self.jwks),
            Route("/token", self.token, methods=["POST"]),
        ])

    async def discovery(self, request: Request) -> JSONResponse:
        return JSONResponse({
            "issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/authorize",
            "token_endpoint": f"{ISSUER}/token", "jwks_uri": f"{ISSUER}/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
        })

    async def jwks(self, request: Request) -> JSONResponse:
        return JSONResponse(KeySet([self.key]).as_dict(private=False))

    async def token(self, request: Request) -> JSONResponse:
        form = dict((await request.form()).items())
        self.token_requests.append({k: str(v) for k, v in form.items()})
        claims = self.codes.pop(str(form.get("code")), None)
        if claims is None:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": CLIENT_ID, "iat": now, "exp": now + 300, **claims}
        id_token = jwt.encode({"alg": "RS256", "kid": "idp-1"}, payload, self.key)
        return JSONResponse({"access_token": uuid4().hex, "token_type": "Bearer",
                             "expires_in": 300, "id_token": id_token})


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
async def oidc(
    make_settings: MakeSettings, provider: FakeProvider
) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    settings = make_settings(oidc_issuer=ISSUER, oidc_client_id=CLIENT_ID,
                             oidc_client_secret=SecretStr("client-secret"))
    services = build_services(settings)
    await services.start()
    services.ctx.extras["oidc_client"] = build_oidc_client(
        settings, transport=httpx.ASGITransport(app=provider.app()))
    transport = httpx.ASGITransport(app=create_app(services.ctx), raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield services, http
    finally:
        await services.close()


async def start(http: httpx.AsyncClient) -> dict[str, str]:
    r = await http.get("/api/v1/auth/oidc/login")
    assert r.status_code == 302, r.text
    location = urlparse(r.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{ISSUER}/authorize"
    params = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert params["client_id"] == CLIENT_ID and params["code_challenge_method"] == "S256"
    assert params["redirect_uri"] == "http://testserver/api/v1/auth/oidc/callback"
    return params


async def finish(
    http: httpx.AsyncClient, provider: FakeProvider, params: dict[str, str], claims: dict[str, Any]
) -> httpx.Response:
    code = uuid4().hex
    provider.codes[code] = {"nonce": params["nonce"], **claims}
    return await http.get("/api/v1/auth/oidc/callback",
                          params={"code": code, "state": params["state"]})


async def test_disabled_oidc_answers_404(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/auth/oidc/login", "/api/v1/auth/oidc/callback?code=x&state=y"):
        r = await client.get(path)
        assert r.status_code == 404 and r.json()["error"]["code"] == "oidc_disabled"


async def test_sign_in_creates_an_account_and_returns_a_pair(
    oidc: tuple[Services, httpx.AsyncClient], provider: FakeProvider
) -> None:
    services, http = oidc
    params = await start(http)
    r = await finish(http, provider, params, {"sub": "idp-user-1", "email": "Oid@Example.com",
                                              "email_verified": True, "name": "Oidc User"})
    assert r.status_code == 200, r.text
    pair = r.json()
    assert pair["user"]["email"] == "oid@example.com" and pair["user"]["name"] == "Oidc User"
    # PKCE: the verifier went to the token endpoint.
    assert provider.token_requests[-1]["code_verifier"]
    me = await http.get("/api/v1/users/me",
                        headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200
    user = await services.ctx.stores.users.by_oidc_subject("idp-user-1")
    assert user is not None and user.password_hash is None
    events = await services.ctx.stores.audit.list(PageParams(), kind=AuditKind.SIGN_IN)
    assert events.items[0].data == {"method": "oidc"}
    # Signing in again finds the same account.
    again = await finish(http, provider, await start(http),
                         {"sub": "idp-user-1", "email": "changed@example.com"})
    assert again.status_code == 200 and again.json()["user"]["id"] == pair["user"]["id"]


async def test_existing_account_is_linked_by_verified_email_only(
    oidc: tuple[Services, httpx.AsyncClient], provider: FakeProvider
) -> None:
    services, http = oidc
    existing = await services.ctx.stores.users.create(email="link@example.com", name="L",
                                                      password_hash=None)
    r = await finish(http, provider, await start(http),
                     {"sub": "s-unverified", "email": "link@example.com",
                      "email_verified": False})
    assert r.status_code == 401
    unlinked = await services.ctx.stores.users.get(existing.id)
    assert unlinked is not None and unlinked.oidc_subject is None
    r = await finish(http, provider, await start(http),
                     {"sub": "s-verified", "email": "link@example.com", "email_verified": True})
    assert r.status_code == 200 and r.json()["user"]["id"] == existing.id


async def test_forged_state_and_nonce_are_refused(
    oidc: tuple[Services, httpx.AsyncClient], provider: FakeProvider
) -> None:
    services, http = oidc
    claims = {"sub": "s-state", "email": "state@example.com", "email_verified": True}
    r = await finish(http, provider, {**await start(http), "state": "forged"}, claims)
    assert r.status_code == 401
    r = await finish(http, provider, {**await start(http), "nonce": "forged"}, claims)
    assert r.status_code == 401
    # The callback in another browser (without the state cookie) is refused.
    params = await start(http)
    http.cookies.clear()
    r = await finish(http, provider, params, claims)
    assert r.status_code == 401
    assert await services.ctx.stores.users.by_oidc_subject("s-state") is None
    # The same flow, untouched, succeeds: the refusals above were for the forgeries.
    assert (await finish(http, provider, await start(http), claims)).status_code == 200


async def test_provider_error_and_deactivated_account(
    oidc: tuple[Services, httpx.AsyncClient], provider: FakeProvider
) -> None:
    services, http = oidc
    params = await start(http)
    r = await http.get("/api/v1/auth/oidc/callback",
                       params={"error": "access_denied", "state": params["state"]})
    assert r.status_code == 401
    user = await services.ctx.stores.users.create(email="off@example.com", name="Off",
                                                  password_hash=None, oidc_subject="s-off")
    await services.ctx.stores.users.update(user.id, active=False)
    r = await finish(http, provider, await start(http), {"sub": "s-off"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_credentials"
