"""Who is calling: a bearer access token, or a service API key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request

from api.context import AppContext
from core.errors import Unauthorized
from core.models import Role
from core.store.api_keys import API_KEY_PREFIX

__all__ = ["API_KEY_PREFIX", "Principal", "authenticate", "bearer_of", "client_ip"]


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: Role
    via: Literal["token", "api_key"]
    token_jti: str | None = None
    token_exp: int | None = None
    api_key_id: str | None = None


def client_ip(request: Request) -> str | None:
    """The peer address as the ASGI server reports it (taken from X-Forwarded-For when the
    peer is one of TRUSTED_PROXIES)."""
    return request.client.host if request.client else None


def bearer_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-key")


async def authenticate(request: Request, ctx: AppContext) -> Principal:
    """Resolve the caller, or raise Unauthorized (TokenExpired for an expired token)."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    credential = bearer_of(request)
    if not credential:
        raise Unauthorized("missing bearer token")
    if credential.startswith(API_KEY_PREFIX):
        principal = await _from_api_key(ctx, credential)
    else:
        principal = await _from_token(ctx, credential)
    request.state.principal = principal
    return principal


async def _from_token(ctx: AppContext, token: str) -> Principal:
    claims = ctx.tokens.verify(token, typ="access")
    if await ctx.revocations.is_revoked(claims.jti):
        raise Unauthorized("the token has been revoked")
    user = await ctx.stores.users.get(claims.sub)
    if user is None or not user.active:
        raise Unauthorized("the account is not active")
    # The stored role wins: a role change takes effect without waiting for the token to expire.
    return Principal(user.id, user.role, "token", claims.jti, claims.exp)


async def _from_api_key(ctx: AppContext, raw_key: str) -> Principal:
    resolved = await ctx.stores.api_keys.resolve(raw_key)
    if resolved is None:
        raise Unauthorized("invalid API key")
    user = await ctx.stores.users.get(resolved.owner_id)
    if user is None or not user.active:
        raise Unauthorized("the API key's account is not active")
    return Principal(user.id, user.role, "api_key", api_key_id=resolved.id)
