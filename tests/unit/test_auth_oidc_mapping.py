"""Mapping an OpenID provider's claims onto accounts, and the signed state cookie."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response

from api.oidc import COOKIE_NAME, load_session, store_session, user_for_claims
from core.errors import Unauthorized
from core.settings import Settings
from core.store.stores import Stores
from tests.support.embedded import embedded_database

MakeSettings = Callable[..., Settings]


@pytest.fixture
async def stores(tmp_path: Path) -> Stores:
    built = Stores.over(embedded_database(tmp_path, "oidc"))
    await built.ensure_indexes()
    return built


@pytest.mark.parametrize("claims", [
    {}, {"sub": ""}, {"sub": 5},
    {"sub": "s1"},  # no email to create an account with
    {"sub": "s1", "email": "a@example.com"},  # email not verified
    {"sub": "s1", "email": "a@example.com", "email_verified": "true"},  # a string is not True
])
async def test_insufficient_claims_are_refused(stores: Stores, claims: dict[str, object]) -> None:
    with pytest.raises(Unauthorized):
        await user_for_claims(stores, claims)
    assert await stores.users.count() == 0


async def test_new_account_without_a_name_uses_the_email(stores: Stores) -> None:
    user = await user_for_claims(stores, {"sub": "s1", "email": "Jo@Example.com",
                                          "email_verified": True})
    assert (user.email, user.name, user.oidc_subject) == ("jo@example.com", "Jo", "s1")


async def test_email_linked_to_another_subject_is_refused(stores: Stores) -> None:
    await stores.users.create(email="x@example.com", name="X", password_hash=None,
                              oidc_subject="first")
    with pytest.raises(Unauthorized):
        await user_for_claims(stores, {"sub": "second", "email": "x@example.com",
                                       "email_verified": True})


def _request(cookie: str | None = None) -> Request:
    headers = [(b"cookie", f"{COOKIE_NAME}={cookie}".encode())] if cookie else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers,
                    "scheme": "http", "server": ("testserver", 80), "query_string": b""})


def test_state_cookie_round_trips_and_rejects_tampering(make_settings: MakeSettings) -> None:
    settings = make_settings(session_secret=SecretStr("s" * 40))
    request = _request()
    load_session(request, settings)
    request.session["_state_roomcast_abc"] = {"data": {"nonce": "n"}}
    response = Response()
    store_session(request, response, settings)
    cookie = response.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    assert "httponly" in response.headers["set-cookie"].lower()
    echoed = _request(cookie)
    load_session(echoed, settings)
    assert echoed.session == {"_state_roomcast_abc": {"data": {"nonce": "n"}}}
    tampered = _request(cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"))
    load_session(tampered, settings)
    assert tampered.session == {}
    other_secret = _request(cookie)
    load_session(other_secret, make_settings(session_secret=SecretStr("t" * 40)))
    assert other_secret.session == {}
