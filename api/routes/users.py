"""REST routes: the caller's own account (/users/me)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from api.auth import client_ip
from api.context import AppContext
from api.membership import leave_all_projects
from api.patch_bodies import Patch
from api.routing import Call, NoModel, Router
from core.errors import Conflict, Forbidden, Unauthorized, ValidationFailed
from core.models import PageParams, Role
from core.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from core.store.audit import AuditKind
from core.store.users import User

router = Router(tags=["users"])

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Password = Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)]


class UserOut(BaseModel):
    """An account as callers see it: never its password hash."""

    id: str
    email: str
    name: str
    role: Role
    active: bool
    email_verified: bool = Field(description="the address was confirmed through a mailed link")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(id=user.id, email=user.email, name=user.name, role=user.role,
                   active=user.active, email_verified=user.email_verified,
                   created_at=user.created_at, updated_at=user.updated_at)


class MePatch(Patch):
    name: Name | None = None
    password: Password | None = None
    current_password: str | None = Field(default=None, max_length=MAX_PASSWORD_LENGTH)


async def _me(ctx: AppContext, user_id: str) -> User:
    user = await ctx.stores.users.get(user_id)
    if user is None:  # deleted between authentication and now
        raise Unauthorized("the account is not active")
    return user


@router.get("/users/me", response=UserOut)
async def get_me(call: Call[NoModel, NoModel]) -> UserOut:
    """The signed-in account."""
    return UserOut.of(await _me(call.ctx, call.user.user_id))


@router.patch("/users/me", body=MePatch, response=UserOut, errors=(403,))
async def update_me(call: Call[MePatch, NoModel]) -> UserOut:
    """Change the account's name or password; a new password needs `current_password`.

    Changing the password ends every other session (their refresh tokens stop working).
    """
    body, ctx = call.body, call.ctx
    user = await _me(ctx, call.user.user_id)
    fields: dict[str, object] = {}
    if body.name is not None:
        fields["name"] = body.name
    if body.password is not None:
        if body.current_password is None:
            raise ValidationFailed("changing the password needs current_password", details=[
                {"loc": ["body", "current_password"], "type": "missing",
                 "message": "required with password"}])
        if not await ctx.passwords.verify_async(user.password_hash, body.current_password):
            raise Forbidden("the current password is wrong")
        fields["password_hash"] = await ctx.passwords.hash_async(body.password)
    if not fields:
        return UserOut.of(user)
    updated = await ctx.stores.users.update(user.id, **fields)
    if updated is None:
        raise Unauthorized("the account is not active")
    if body.password is not None:
        await ctx.stores.refresh_tokens.revoke_for_user(user.id, reason="password_changed")
        await ctx.stores.audit.record(AuditKind.PASSWORD_CHANGED, actor_id=user.id,
                                      subject_id=user.id, ip=client_ip(call.request))
    return UserOut.of(updated)


@router.delete("/users/me", status=204, errors=(409,))
async def delete_me(call: Call[NoModel, NoModel]) -> None:
    """Delete the account. Its tokens and API keys stop working at once."""
    ctx = call.ctx
    user = await _me(ctx, call.user.user_id)
    if user.role == Role.ADMIN and await active_admin_count(ctx) <= 1:
        raise Conflict("the last active admin cannot delete their account")
    await leave_all_projects(ctx, user.id)
    await ctx.stores.refresh_tokens.revoke_for_user(user.id, reason="account_deleted")
    await ctx.stores.api_keys.revoke_for_owner(user.id)
    if call.user.token_jti is not None and call.user.token_exp is not None:
        await ctx.revocations.revoke(call.user.token_jti, expires_at=call.user.token_exp)
    await ctx.stores.users.delete(user.id)
    await ctx.emitter.user_ended(user.id, "account_deleted")
    await ctx.stores.audit.record(AuditKind.ACCOUNT_DELETED, actor_id=user.id,
                                  subject_id=user.id, ip=client_ip(call.request),
                                  data={"email": user.email})


async def active_admin_count(ctx: AppContext) -> int:
    page = await ctx.stores.users.list(PageParams(limit=1), role=Role.ADMIN, active=True)
    return page.total
