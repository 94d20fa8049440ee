"""REST routes for admins: accounts, roles, the audit log, and service API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.auth import client_ip
from api.context import AppContext
from api.patch_bodies import Patch
from api.routes.users import UserOut, active_admin_count
from api.routing import Call, NoModel, Router
from core.errors import Conflict, NotFound
from core.models import PageParams, Role
from core.store.api_keys import ApiKeyDoc
from core.store.audit import AuditEvent, AuditKind
from core.store.users import User

router = Router(tags=["admin"])


class _Paging(PageParams):
    # The bounds are PageParams' own, so admin lists refuse what every other list refuses.
    model_config = ConfigDict(extra="forbid")

    def page(self) -> PageParams:
        return PageParams(limit=self.limit, offset=self.offset)


class UserFilter(_Paging):
    role: Role | None = None
    active: bool | None = None


class UserPage(BaseModel):
    items: list[UserOut]
    total: int
    limit: int
    offset: int


class UserAdminPatch(Patch):
    role: Role | None = None
    active: bool | None = None


class AuditFilter(_Paging):
    kind: AuditKind | None = None
    actor_id: str | None = None
    subject_id: str | None = None


class AuditOut(BaseModel):
    id: str
    kind: AuditKind
    actor_id: str | None
    subject_id: str | None
    ip: str | None
    data: dict[str, Any]
    at: datetime


class AuditPage(BaseModel):
    items: list[AuditOut]
    total: int
    limit: int
    offset: int


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    owner_id: str | None = Field(default=None, description="defaults to the calling admin")


class ApiKeyOut(BaseModel):
    id: str
    name: str
    owner_id: str
    created_by: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, doc: ApiKeyDoc) -> ApiKeyOut:
        return cls.model_validate(doc.model_dump(exclude={"key_hash"}))


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="the raw key: shown this once, stored only as a hash")


class ApiKeyFilter(_Paging):
    include_revoked: bool = False


class ApiKeyPage(BaseModel):
    items: list[ApiKeyOut]
    total: int
    limit: int
    offset: int


@router.get("/admin/users", query=UserFilter, response=UserPage, auth="admin")
async def list_users(call: Call[NoModel, UserFilter]) -> UserPage:
    """Every account, oldest first; filter by `role` and `active`."""
    q = call.query
    page = await call.ctx.stores.users.list(q.page(), role=q.role, active=q.active)
    return UserPage(items=[UserOut.of(u) for u in page.items], total=page.total,
                    limit=page.limit, offset=page.offset)


@router.patch("/admin/users/{user_id}", body=UserAdminPatch, response=UserOut, auth="admin",
              errors=(404, 409))
async def update_user(call: Call[UserAdminPatch, NoModel]) -> UserOut:
    """Change an account's role or deactivate (reactivate) it; both are audited.

    A deactivated account's tokens and API keys stop working at once. The last active admin
    cannot be demoted or deactivated.
    """
    ctx, body = call.ctx, call.body
    user = await ctx.stores.users.get(call.path["user_id"])
    if user is None:
        raise NotFound("user not found")
    fields: dict[str, Any] = {}
    if body.role is not None and body.role != user.role:
        fields["role"] = body.role
    if body.active is not None and body.active != user.active:
        fields["active"] = body.active
    if not fields:
        return UserOut.of(user)
    if _removes_an_admin(user, fields) and await active_admin_count(ctx) <= 1:
        raise Conflict("the last active admin cannot be demoted or deactivated")
    updated = await ctx.stores.users.update(user.id, **fields)
    if updated is None:
        raise NotFound("user not found")
    if fields.get("active") is False:
        await ctx.stores.refresh_tokens.revoke_for_user(user.id, reason="deactivated")
        # Its sockets on every process end now, not when their tokens expire.
        await ctx.emitter.user_ended(user.id, "account_deactivated")
    await _audit_changes(ctx, call, user, fields)
    return UserOut.of(updated)


def _removes_an_admin(user: User, fields: dict[str, Any]) -> bool:
    if user.role != Role.ADMIN or not user.active:
        return False
    return fields.get("role", Role.ADMIN) != Role.ADMIN or fields.get("active") is False


async def _audit_changes(
    ctx: AppContext, call: Call[UserAdminPatch, NoModel], user: User, fields: dict[str, Any]
) -> None:
    ip = client_ip(call.request)
    actor = call.user.user_id
    if "role" in fields:
        await ctx.stores.audit.record(AuditKind.ROLE_CHANGED, actor_id=actor, subject_id=user.id,
                                      ip=ip, data={"from": user.role.value,
                                                   "to": fields["role"].value})
    if "active" in fields:
        kind = AuditKind.REACTIVATED if fields["active"] else AuditKind.DEACTIVATED
        await ctx.stores.audit.record(kind, actor_id=actor, subject_id=user.id, ip=ip)


@router.get("/admin/audit", query=AuditFilter, response=AuditPage, auth="admin")
async def list_audit(call: Call[NoModel, AuditFilter]) -> AuditPage:
    """The audit log, newest first; filter by `kind`, `actor_id` or `subject_id`."""
    q = call.query
    page = await call.ctx.stores.audit.list(q.page(), kind=q.kind, actor_id=q.actor_id,
                                            subject_id=q.subject_id)
    return AuditPage(items=[_audit_out(e) for e in page.items], total=page.total,
                     limit=page.limit, offset=page.offset)


def _audit_out(event: AuditEvent) -> AuditOut:
    return AuditOut.model_validate(event.model_dump(exclude={"seq"}))


@router.post("/admin/api-keys", body=ApiKeyCreate, response=ApiKeyCreated, status=201,
             auth="admin", errors=(404,))
async def create_api_key(call: Call[ApiKeyCreate, NoModel]) -> ApiKeyCreated:
    """Create a service API key acting as `owner_id` (default: the caller).

    The raw key (`rck_...`) is in this response only; send it as `X-API-Key` or as a
    bearer token.
    """
    ctx = call.ctx
    owner_id = call.body.owner_id or call.user.user_id
    owner = await ctx.stores.users.get(owner_id)
    if owner is None or not owner.active:
        raise NotFound("owner not found")
    doc, raw = await ctx.stores.api_keys.create(name=call.body.name, owner_id=owner.id,
                                                created_by=call.user.user_id)
    await ctx.stores.audit.record(AuditKind.API_KEY_CREATED, actor_id=call.user.user_id,
                                  subject_id=owner.id, ip=client_ip(call.request),
                                  data={"key_id": doc.id, "name": doc.name})
    return ApiKeyCreated(**ApiKeyOut.of(doc).model_dump(), key=raw)


@router.get("/admin/api-keys", query=ApiKeyFilter, response=ApiKeyPage, auth="admin")
async def list_api_keys(call: Call[NoModel, ApiKeyFilter]) -> ApiKeyPage:
    """API keys, newest first, without their secrets; revoked ones on request."""
    q = call.query
    page = await call.ctx.stores.api_keys.list(q.page(), include_revoked=q.include_revoked)
    return ApiKeyPage(items=[ApiKeyOut.of(k) for k in page.items], total=page.total,
                      limit=page.limit, offset=page.offset)


@router.delete("/admin/api-keys/{key_id}", status=204, auth="admin", errors=(404,))
async def revoke_api_key(call: Call[NoModel, NoModel]) -> None:
    """Revoke an API key; it stops working at once."""
    key_id = call.path["key_id"]
    if not await call.ctx.stores.api_keys.revoke(key_id):
        raise NotFound("API key not found")
    await call.ctx.stores.audit.record(AuditKind.API_KEY_REVOKED, actor_id=call.user.user_id,
                                       ip=client_ip(call.request), data={"key_id": key_id})
