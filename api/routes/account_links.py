"""REST routes: password reset and email verification, by single-use links sent by mail.

Asking for a reset answers the same (202) whether or not the address has an account, and
the lookup and the mail happen after the answer, so neither the answer nor its timing tells.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.auth import client_ip
from api.context import AppContext
from api.routes.people import post_office
from api.routes.users import Password, UserOut
from api.routing import Call, NoModel, Router
from core.errors import RoomcastError, Unauthorized
from core.ids import utcnow
from core.mail.templates import render
from core.store.audit import AuditKind
from core.store.links import LinkPurpose
from core.store.users import User, normalize_email

log = logging.getLogger("roomcast.api")
router = Router(tags=["auth"])
# One reset mail per account per minute: the form cannot be used to flood a mailbox.
RESEND_AFTER = timedelta(minutes=1)
Token = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# Hold references so the tasks are not garbage-collected mid-run.
_background: set[asyncio.Task[None]] = set()


class ResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3,
                                            max_length=254)]


class ResetConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: Token
    password: Password


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: Token


class Accepted(BaseModel):
    status: str = Field(description="`accepted`: a mail goes out if there is one to send")


def in_background(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(work)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def send_verification(ctx: AppContext, user: User) -> None:
    """Mail the user a link confirming their address (failures are logged: the account
    stands, and they can ask again)."""
    try:
        hours = ctx.settings.email_verification_ttl_hours
        token = await ctx.stores.links.issue(LinkPurpose.VERIFY, user.id, user.email,
                                             timedelta(hours=hours))
        post = post_office(ctx)
        mail = render("email_verification", name=user.name, email=user.email,
                      hours=str(hours), link=post.link("verify-email", token))
        await post.post("email_verification", user.email, mail)
    except RoomcastError as exc:
        log.warning("no verification mail for %s: %s", user.id, exc.message)


async def _send_reset(ctx: AppContext, email: str) -> None:
    try:
        user = await ctx.stores.users.by_email(email)
        if user is None or not user.active:
            return
        links = ctx.stores.links
        if await links.issued_since(LinkPurpose.RESET, user.id, utcnow() - RESEND_AFTER):
            return
        minutes = ctx.settings.password_reset_ttl_minutes
        token = await links.issue(LinkPurpose.RESET, user.id, user.email,
                                  timedelta(minutes=minutes))
        post = post_office(ctx)
        mail = render("password_reset", name=user.name, minutes=str(minutes),
                      link=post.link("reset-password", token))
        await post.post("password_reset", user.email, mail)
    except Exception:
        log.exception("the password reset mail could not be prepared")


@router.post("/auth/password-reset", body=ResetRequest, response=Accepted, status=202,
             auth="none")
async def request_reset(call: Call[ResetRequest, NoModel]) -> Accepted:
    """Ask for a password reset link by mail. The answer is always 202: it never says
    whether the address has an account."""
    in_background(_send_reset(call.ctx, normalize_email(call.body.email)))
    return Accepted(status="accepted")


@router.post("/auth/password-reset/confirm", body=ResetConfirm, status=204, auth="none",
             errors=(400, 401, 410))
async def confirm_reset(call: Call[ResetConfirm, NoModel]) -> None:
    """Set a new password with the link's token. The link works once (410 `link_used`),
    until it expires (410 `link_expired`); an unknown token is 400 `invalid_link`. Every
    session of the account ends, and the address counts as verified."""
    ctx = call.ctx
    link = await ctx.stores.links.use(LinkPurpose.RESET, call.body.token)
    user = await ctx.stores.users.get(link.user_id)
    if user is None or not user.active:
        raise Unauthorized("the account is not active")
    password_hash = await ctx.passwords.hash_async(call.body.password)
    await ctx.stores.users.update(user.id, password_hash=password_hash,
                                  email_verified=user.email_verified or link.email == user.email)
    await ctx.stores.links.void_for_user(LinkPurpose.RESET, user.id)
    await ctx.stores.refresh_tokens.revoke_for_user(user.id, reason="password_reset")
    await ctx.stores.audit.record(AuditKind.PASSWORD_CHANGED, actor_id=user.id,
                                  subject_id=user.id, ip=client_ip(call.request),
                                  data={"method": "reset_link"})


@router.post("/auth/verify-email/request", response=Accepted, status=202)
async def request_verification(call: Call[NoModel, NoModel]) -> Accepted:
    """Mail the caller a new link to confirm their address (none if it is confirmed)."""
    user = await call.ctx.stores.users.get(call.user.user_id)
    if user is None:
        raise Unauthorized("the account is not active")
    if not user.email_verified:
        await send_verification(call.ctx, user)
    return Accepted(status="accepted")


@router.post("/auth/verify-email", body=LinkIn, response=UserOut, auth="none",
             errors=(400, 401, 410))
async def verify_email(call: Call[LinkIn, NoModel]) -> UserOut:
    """Confirm the address with the link's token (400 `invalid_link`, 410 `link_used` or
    `link_expired`). A link sent to an address the account no longer has does nothing."""
    ctx = call.ctx
    link = await ctx.stores.links.use(LinkPurpose.VERIFY, call.body.token)
    user = await ctx.stores.users.get(link.user_id)
    if user is None or not user.active:
        raise Unauthorized("the account is not active")
    if user.email == link.email and not user.email_verified:
        user = await ctx.stores.users.update(user.id, email_verified=True) or user
    return UserOut.of(user)
