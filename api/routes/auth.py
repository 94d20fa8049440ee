"""REST routes: register, sign in, refresh, sign out, and OpenID Connect sign-in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response

from api.auth import bearer_of, client_ip
from api.context import AppContext
from api.oidc import load_session, oidc_client, require_enabled, store_session, user_for_claims
from api.routes.account_links import send_verification
from api.routes.invitations import accept_invitation
from api.routes.users import Name, Password, UserOut
from api.routing import Call, NoModel, Router, json_response
from core.errors import RegistrationClosed, ServiceUnavailable, Unauthorized, WrongAccount
from core.ids import new_id
from core.imports import imported
from core.login_guard import LoginGuard, build_login_guard
from core.passwords import MAX_PASSWORD_LENGTH, InvalidCredentials
from core.store.audit import AuditKind
from core.store.invitations import InvitationStatus, dead_link
from core.store.users import User, normalize_email
from core.tokens import TokenReused, TokenRevoked

router = Router(tags=["auth"])
CALLBACK_PATH = "/api/v1/auth/oidc/callback"

Email = Annotated[str, StringConstraints(
    strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
)]


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    name: Name
    password: Password
    invitation_token: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description="an invitation's token: required when REGISTRATION=invite; "
        "the account joins the project at once")


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, StringConstraints(max_length=254)]
    password: Annotated[str, Field(max_length=MAX_PASSWORD_LENGTH)]


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: Annotated[str, Field(min_length=1, max_length=4096)]


class LogoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: Annotated[str, Field(max_length=4096)] | None = None


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int  # seconds the access token is valid
    refresh_expires_in: int
    user: UserOut


def login_guard_of(ctx: AppContext) -> LoginGuard:
    """The app's one guard, built on first use (Redis-backed when REDIS_URL is set)."""
    guard: LoginGuard | None = ctx.extras.get("login_guard")
    if guard is None:
        guard = build_login_guard(ctx.settings, ctx.redis)
        ctx.extras["login_guard"] = guard
    return guard


async def issue_session(ctx: AppContext, user: User, *, family: str | None = None) -> TokenPair:
    """A new token pair; starts a refresh family unless `family` is given (a rotation, whose
    caller swaps the family's jti itself)."""
    fam = family or new_id()
    access = ctx.tokens.issue(sub=user.id, role=user.role.value, typ="access", family=fam)
    refresh = ctx.tokens.issue(sub=user.id, role=user.role.value, typ="refresh", family=fam)
    if family is None:
        await ctx.stores.refresh_tokens.start(
            family=fam, user_id=user.id, jti=refresh.claims.jti,
            expires_at=datetime.fromtimestamp(refresh.claims.exp, UTC),
        )
    return _pair(ctx, user, access.token, refresh.token)


def _pair(ctx: AppContext, user: User, access: str, refresh: str) -> TokenPair:
    return TokenPair(
        access_token=access, refresh_token=refresh,
        expires_in=ctx.settings.access_token_ttl_seconds,
        refresh_expires_in=ctx.settings.refresh_token_ttl_seconds, user=UserOut.of(user),
    )


@router.post("/auth/register", body=RegisterIn, response=UserOut, status=201, auth="none",
             errors=(400, 403, 409, 410))
async def register(call: Call[RegisterIn, NoModel]) -> UserOut:
    """Create a member account (the email is stored lower-cased) and mail a link to confirm
    the address. REGISTRATION=closed refuses (403 `registration_closed`); `invite` needs a
    pending invitation to this very address (`invitation_token`; 403 `wrong_account` for
    another address, 400/410 for a bad or dead link). With an invitation the account joins
    its project, and the address counts as confirmed."""
    ctx, body = call.ctx, call.body
    mode = ctx.settings.registration
    if mode == "closed":
        raise RegistrationClosed()
    if mode == "invite" and body.invitation_token is None:
        raise RegistrationClosed("sign-up needs an invitation on this server")
    invitation = None
    if body.invitation_token is not None:
        invitation = await ctx.stores.invitations.by_token(body.invitation_token)
        if invitation.status != InvitationStatus.PENDING:
            raise dead_link(invitation)
        if invitation.email != normalize_email(body.email):
            raise WrongAccount(f"this invitation is for {invitation.email}")
    password_hash = await ctx.passwords.hash_async(body.password)
    user = await ctx.stores.users.create(email=body.email, name=body.name,
                                         password_hash=password_hash)
    await ctx.stores.audit.record(AuditKind.REGISTERED, actor_id=user.id, subject_id=user.id,
                                  ip=client_ip(call.request))
    if invitation is not None and body.invitation_token is not None:
        # The mail reached this address: it is confirmed.
        user = await ctx.stores.users.update(user.id, email_verified=True) or user
        await accept_invitation(ctx, body.invitation_token, user)
    else:
        await send_verification(ctx, user)
    return UserOut.of(user)


@router.post("/auth/login", body=LoginIn, response=TokenPair, auth="none", errors=(401, 429))
async def login(call: Call[LoginIn, NoModel]) -> TokenPair:
    """Sign in with email and password.

    An unknown email, a wrong password and a deactivated account get the same 401
    `invalid_credentials` after the same work. Repeated failures for one account or from one
    address are answered 429 with a `Retry-After` that doubles with each further failure.
    """
    ctx, ip = call.ctx, client_ip(call.request)
    email = normalize_email(call.body.email)
    keys = [f"account:{email}", f"ip:{ip}"]
    guard = login_guard_of(ctx)
    await guard.check(keys)
    user = await ctx.stores.users.by_email(email)
    # Always one Argon2 verification: against a dummy hash when the account is unknown.
    valid = await ctx.passwords.verify_async(user.password_hash if user else None,
                                             call.body.password)
    if user is None or not valid or not user.active:
        await guard.failed(keys)
        reason = "unknown_account" if user is None else (
            "wrong_password" if not valid else "inactive")
        await ctx.stores.audit.record(
            AuditKind.SIGN_IN_FAILED, subject_id=user.id if user else None, ip=ip,
            data={"email": email, "reason": reason},
        )
        raise InvalidCredentials()
    await guard.succeeded(keys[:1])
    if user.password_hash and ctx.passwords.needs_rehash(user.password_hash):
        rehashed = await ctx.passwords.hash_async(call.body.password)
        await ctx.stores.users.update(user.id, password_hash=rehashed)
    await ctx.stores.audit.record(AuditKind.SIGN_IN, actor_id=user.id, subject_id=user.id, ip=ip,
                                  data={"method": "password"})
    return await issue_session(ctx, user)


@router.post("/auth/refresh", body=RefreshIn, response=TokenPair, auth="none", errors=(401,))
async def refresh(call: Call[RefreshIn, NoModel]) -> TokenPair:
    """Exchange a refresh token for a new pair; the presented one stops working.

    Presenting a refresh token that was already exchanged revokes its whole family:
    401 `token_reused`, and every later refresh of that session fails too.
    """
    ctx = call.ctx
    claims = ctx.tokens.verify(call.body.refresh_token, typ="refresh")
    if claims.family is None:
        raise Unauthorized("invalid token")
    user = await ctx.stores.users.get(claims.sub)
    if user is None or not user.active:
        await ctx.stores.refresh_tokens.revoke(claims.family, reason="inactive")
        raise Unauthorized("the account is not active")
    access = ctx.tokens.issue(sub=user.id, role=user.role.value, typ="access",
                              family=claims.family)
    nxt = ctx.tokens.issue(sub=user.id, role=user.role.value, typ="refresh", family=claims.family)
    rotated = await ctx.stores.refresh_tokens.rotate(
        family=claims.family, presented_jti=claims.jti, next_jti=nxt.claims.jti,
        expires_at=datetime.fromtimestamp(nxt.claims.exp, UTC),
    )
    if rotated is None:
        await _refused_rotation(ctx, call.request, claims.family, claims.jti, user.id)
    return _pair(ctx, user, access.token, nxt.token)


async def _refused_rotation(
    ctx: AppContext, request: Request, family: str, jti: str, user_id: str
) -> None:
    current = await ctx.stores.refresh_tokens.get(family)
    if current is None:
        raise Unauthorized("the session has ended")
    if current.revoked:
        raise TokenRevoked()
    # Not the family's current token: an old one came back, so someone holds a copy.
    await ctx.stores.refresh_tokens.revoke(family, reason="reuse")
    await ctx.stores.audit.record(AuditKind.REFRESH_REUSED, subject_id=user_id,
                                  ip=client_ip(request), data={"family": family, "jti": jti})
    raise TokenReused()


@router.post("/auth/logout", body=LogoutIn, status=204)
async def logout(call: Call[LogoutIn, NoModel]) -> None:
    """Sign out: the access token and its session's refresh tokens stop working.

    A `refresh_token` in the body ends that session too (if it is the caller's); one that is
    invalid or already revoked is ignored, so signing out always succeeds.
    """
    ctx, principal = call.ctx, call.user
    families: set[str] = set()
    if principal.token_jti is not None and principal.token_exp is not None:
        await ctx.revocations.revoke(principal.token_jti, expires_at=principal.token_exp)
        bearer = bearer_of(call.request) or ""
        family = ctx.tokens.verify(bearer, typ="access").family
        if family:
            families.add(family)
    if call.body.refresh_token:
        try:
            claims = ctx.tokens.verify(call.body.refresh_token, typ="refresh")
        except Unauthorized:
            claims = None
        if claims is not None and claims.sub == principal.user_id and claims.family:
            families.add(claims.family)
    for family in families:
        await ctx.stores.refresh_tokens.revoke(family, reason="logout")
    await ctx.stores.audit.record(AuditKind.SIGN_OUT, actor_id=principal.user_id,
                                  subject_id=principal.user_id, ip=client_ip(call.request))


@router.get("/auth/oidc/login", auth="none", status=302, errors=(404,))
async def oidc_login(call: Call[NoModel, NoModel]) -> Response:
    """Start OpenID Connect sign-in: redirects to the provider (404 `oidc_disabled` when
    OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are not all set)."""
    settings = call.ctx.settings
    require_enabled(settings)
    request = call.request
    redirect_uri = (
        settings.public_url.rstrip("/") + CALLBACK_PATH if settings.public_url
        else str(request.url_for("oidc_callback"))
    )
    load_session(request, settings)
    # With the first OIDC sign-in, not at start-up (its CLI brings click and rich).
    await imported("httpx")
    import httpx

    try:
        response: Response = await oidc_client(call.ctx).authorize_redirect(request, redirect_uri)
    except httpx.HTTPError as exc:
        raise ServiceUnavailable("the OpenID Connect provider is unreachable") from exc
    store_session(request, response, settings)
    return response


async def _known(ctx: AppContext, claims: dict[str, object]) -> bool:
    subject, email = claims.get("sub"), claims.get("email")
    if isinstance(subject, str) and await ctx.stores.users.by_oidc_subject(subject):
        return True
    return isinstance(email, str) and await ctx.stores.users.by_email(email) is not None


@router.get("/auth/oidc/callback", response=TokenPair, auth="none",
            errors=(401, 403, 404, 503))
async def oidc_callback(call: Call[NoModel, NoModel]) -> Response:
    """Finish OpenID Connect sign-in: the provider redirects here; answers a token pair.

    The account is found by the provider's subject, else by its verified email (and linked),
    else created as a member without a password.
    """
    ctx, request = call.ctx, call.request
    require_enabled(ctx.settings)
    load_session(request, ctx.settings)
    await imported("httpx")
    import httpx

    try:
        token = await oidc_client(ctx).authorize_access_token(request)
    except httpx.HTTPError as exc:
        raise ServiceUnavailable("the OpenID Connect provider is unreachable") from exc
    except Exception as exc:  # authlib's OAuthError and its JOSE errors share no base
        raise Unauthorized("sign-in with the provider failed") from exc
    claims = token.get("userinfo") or {}
    if ctx.settings.registration != "open" and not await _known(ctx, dict(claims)):
        # A provider's sign-in creates accounts only where anyone may sign up.
        raise RegistrationClosed("no account for this sign-in, and sign-up is not open")
    user = await user_for_claims(ctx.stores, dict(claims))
    await ctx.stores.audit.record(AuditKind.SIGN_IN, actor_id=user.id, subject_id=user.id,
                                  ip=client_ip(request), data={"method": "oidc"})
    response = json_response(await issue_session(ctx, user))
    request.scope["session"] = {}
    store_session(request, response, ctx.settings)
    return response
