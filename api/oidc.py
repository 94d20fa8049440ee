"""OpenID Connect sign-in: authlib's Starlette client, its short-lived state cookie, and
mapping the provider's claims onto a Roomcast account.

authlib keeps the authorization state (state, nonce, PKCE verifier) in `request.session`.
Only the two OIDC routes need a session, so instead of a SessionMiddleware on every request
they load and store one signed, short-lived cookie themselves.
"""

from __future__ import annotations

import base64
import json
import warnings
from typing import Any

from itsdangerous import BadSignature, TimestampSigner
from starlette.requests import Request
from starlette.responses import Response

from api.context import AppContext
from core.errors import NotFound, Unauthorized
from core.passwords import InvalidCredentials
from core.settings import Settings
from core.store.stores import Stores
from core.store.users import User

COOKIE_NAME = "roomcast_oidc"
COOKIE_PATH = "/api/v1/auth/oidc"
STATE_MAX_AGE_SECONDS = 600
CLIENT_NAME = "roomcast"
PROVIDER_TIMEOUT_SECONDS = 10.0


class OidcDisabled(NotFound):
    code = "oidc_disabled"
    default_message = "sign-in with OpenID Connect is not configured"


def require_enabled(settings: Settings) -> None:
    if not settings.oidc_enabled:
        raise OidcDisabled()


def _signer(settings: Settings) -> TimestampSigner:
    # Production refuses OIDC without SESSION_SECRET (Settings.check_production).
    secret = settings.session_secret or settings.jwt_secret
    return TimestampSigner(secret.get_secret_value(), salt="roomcast-oidc-state")


def load_session(request: Request, settings: Settings) -> None:
    """Put the state cookie's contents (or an empty dict) at `request.session`."""
    data: dict[str, Any] = {}
    raw = request.cookies.get(COOKIE_NAME)
    if raw:
        try:
            payload = _signer(settings).unsign(raw, max_age=STATE_MAX_AGE_SECONDS)
            loaded = json.loads(base64.urlsafe_b64decode(payload))
            data = loaded if isinstance(loaded, dict) else {}
        except (BadSignature, ValueError):
            data = {}
    request.scope["session"] = data


def store_session(request: Request, response: Response, settings: Settings) -> None:
    data = request.scope.get("session") or {}
    if not data:
        response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH)
        return
    payload = base64.urlsafe_b64encode(json.dumps(data).encode())
    response.set_cookie(
        COOKIE_NAME, _signer(settings).sign(payload).decode(), max_age=STATE_MAX_AGE_SECONDS,
        path=COOKIE_PATH, httponly=True, samesite="lax", secure=request.url.scheme == "https",
    )


def oidc_client(ctx: AppContext) -> Any:
    """authlib's OAuth2 client for the configured provider, built on first use."""
    client = ctx.extras.get("oidc_client")
    if client is None:
        client = build_oidc_client(ctx.settings)
        ctx.extras["oidc_client"] = client
    return client


def build_oidc_client(settings: Settings, **http_options: Any) -> Any:
    """The client for OIDC_ISSUER; `http_options` go to its httpx client (e.g. a transport)."""
    assert settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret
    with warnings.catch_warnings():
        # authlib announces that it would rather use httpx2 than httpx; it works with httpx.
        from authlib.deprecate import AuthlibDeprecationWarning

        warnings.simplefilter("ignore", AuthlibDeprecationWarning)
        from authlib.integrations.starlette_client import OAuth

    metadata_url = settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"
    return OAuth().register(
        CLIENT_NAME,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value(),
        server_metadata_url=metadata_url,
        client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256",
                       "timeout": PROVIDER_TIMEOUT_SECONDS, **http_options},
    )


async def user_for_claims(stores: Stores, claims: dict[str, Any]) -> User:
    """The account for a provider's verified claims: by subject, else by verified email
    (linking it), else a new member account without a password."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthorized("the provider sent no subject")
    user = await stores.users.by_oidc_subject(subject)
    if user is None:
        email = claims.get("email")
        # An unverified email must not attach someone else's account to this subject.
        if not isinstance(email, str) or claims.get("email_verified") is not True:
            raise Unauthorized("the provider did not confirm a verified email")
        user = await stores.users.by_email(email)
        if user is None:
            name = claims.get("name") or email.split("@", 1)[0]
            user = await stores.users.create(email=email, name=str(name)[:100],
                                             password_hash=None, oidc_subject=subject)
        elif user.oidc_subject is None:
            user = await stores.users.update(user.id, oidc_subject=subject) or user
        else:
            raise Unauthorized("this email is linked to another provider account")
    if not user.active:
        raise InvalidCredentials()
    return user
