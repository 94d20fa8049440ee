"""REST routes: projects and their members."""

from __future__ import annotations

import logging
import re
from datetime import date, datetime
from functools import partial
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from starlette.responses import Response

from api.authz import require_head, require_member
from api.context import AppContext
from api.membership import drop_member, purge_project
from api.patch_bodies import NoNulls, Patch
from api.routes.jobs_common import JobAccepted, job_location
from api.routes.people import notify
from api.routing import Call, NoModel, Router, json_response
from core.errors import Conflict, NotFound
from core.models import Page, PageParams, ProjectRole
from core.store.projects import Member, Profile, Project
from realtime.emitter import OUTBOX_KEY, Outbox

log = logging.getLogger("roomcast.api")
router = Router(tags=["projects"])

# The pattern tells clients (and the OpenAPI document) that blank names are refused.
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"\S")
]
Text = Annotated[str, StringConstraints(max_length=10_000)]
ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _iso_text(adapter: TypeAdapter[Any]) -> BeforeValidator:
    def parse(value: Any) -> Any:
        # Only ISO 8601 text: pydantic would otherwise read 0 or "0" as a Unix timestamp.
        if isinstance(value, date):
            return value
        if not (isinstance(value, str) and ISO_DAY.match(value)):
            raise ValueError("expected an ISO 8601 date (YYYY-MM-DD...)")
        # Parsed here, by pydantic's own ISO 8601 reader: strict (JSON body) validation
        # would refuse the text itself once it has passed through this validator.
        try:
            return adapter.validate_python(value)
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"]) from None

    return BeforeValidator(parse)


Day = Annotated[date, _iso_text(TypeAdapter(date))]
Moment = Annotated[AwareDatetime, _iso_text(TypeAdapter(AwareDatetime))]


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    description: Text = ""


class ProjectUpdate(Patch):
    name: Name | None = None
    description: Text | None = None


class ProjectOut(BaseModel):
    id: str
    name: str
    description: str
    owner_id: str
    member_count: int
    role: ProjectRole | None = Field(description="the caller's role in the project")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, project: Project, user_id: str, role: ProjectRole | None = None) -> ProjectOut:
        return cls(
            id=project.id, name=project.name, description=project.description,
            owner_id=project.owner_id, member_count=len(project.members),
            role=project.role_of(user_id) or role, created_at=project.created_at,
            updated_at=project.updated_at,
        )


class ProjectPage(Page[ProjectOut]):
    pass


async def publish(ctx: AppContext, room: str, event: str, data: dict[str, Any]) -> None:
    """Deliver an event after the change is stored. The change stands whatever happens: a
    publish that fails (Redis is down) is retried in the background, in order per room."""
    outbox: Outbox = ctx.extras[OUTBOX_KEY]
    await outbox.send(room, f"{event} into {room}", partial(ctx.emitter.emit, room, event, data))




async def load_project(ctx: AppContext, project_id: str) -> Project:
    project = await ctx.stores.projects.get(project_id)
    if project is None:
        raise NotFound("project not found")
    return project


@router.post("/projects", body=ProjectCreate, response=ProjectOut, status=201)
async def create_project(call: Call[ProjectCreate, NoModel]) -> ProjectOut:
    """Create a project; the caller becomes its head."""
    project = await call.ctx.stores.projects.create(
        name=call.body.name, description=call.body.description, owner_id=call.user.user_id
    )
    return ProjectOut.of(project, call.user.user_id)


@router.get("/projects", query=PageParams, response=ProjectPage)
async def list_projects(call: Call[NoModel, PageParams]) -> ProjectPage:
    """The projects the caller is a member of, oldest first."""
    page = await call.ctx.stores.projects.list_for_user(call.user.user_id, call.query)
    items = [ProjectOut.of(p, call.user.user_id) for p in page.items]
    return ProjectPage(items=items, total=page.total, limit=page.limit, offset=page.offset)


@router.get("/projects/{project_id}", response=ProjectOut, errors=(404,))
async def get_project(call: Call[NoModel, NoModel]) -> ProjectOut:
    """One project the caller is a member of."""
    project_id = call.path["project_id"]
    role = await require_member(call.ctx, project_id, call.user)
    return ProjectOut.of(await load_project(call.ctx, project_id), call.user.user_id, role)


@router.patch("/projects/{project_id}", access="head", body=ProjectUpdate, response=ProjectOut,
              errors=(403, 404))
async def update_project(call: Call[ProjectUpdate, NoModel]) -> ProjectOut:
    """Rename or describe a project (head or admin)."""
    project_id = call.path["project_id"]
    role = await require_head(call.ctx, project_id, call.user)
    changes = call.body.changes()
    project = (await call.ctx.stores.projects.update(project_id, **changes) if changes
               else await call.ctx.stores.projects.get(project_id))
    if project is None:
        raise NotFound("project not found")
    if changes:
        await publish(call.ctx, f"project:{project_id}", "project.updated",
                      {"project": project_event(project), "by": call.user.user_id})
    return ProjectOut.of(project, call.user.user_id, role)


def project_event(project: Project) -> dict[str, Any]:
    """The project as events carry it: ProjectOut without the receiver's own role."""
    out = ProjectOut.of(project, "").model_dump(mode="json")
    out.pop("role")
    return out


@router.delete("/projects/{project_id}", access="head", response=JobAccepted, status=202,
               errors=(403, 404))
async def delete_project(call: Call[NoModel, NoModel]) -> Response:
    """Delete a project and everything under it (head or admin): members are told and lose
    its rooms at once; a `project_deletion` job removes the rest, followed in the caller's
    own room."""
    ctx, project_id = call.ctx, call.path["project_id"]
    await require_head(ctx, project_id, call.user)
    project = await load_project(ctx, project_id)
    # Published before the members lose the room, so their sockets see it; and into each
    # member's own room, for their sockets that were not in the project's.
    event = {"project_id": project_id, "by": call.user.user_id}
    await publish(ctx, f"project:{project_id}", "project.deleted", event)
    for member in project.members:
        await publish(ctx, f"user:{member.user_id}", "project.deleted", event)
    job = await purge_project(ctx, project, call.user.user_id)
    location = job_location(job.id)
    return json_response(JobAccepted(job_id=job.id, status=job.status, location=location),
                         202, headers={"Location": location})


# Members ------------------------------------------------------------------------------------

# Not blank, and no NUL byte: one cannot appear in a MongoDB regular expression.
Query = Annotated[str, StringConstraints(
    strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\x00]*[^\x00\s][^\x00]*$"
)]


def _one_of_user_id_or_email(schema: dict[str, Any]) -> None:
    # Describe the API truly: exactly one of the two, each a string when given (not null).
    for name in ("user_id", "email"):
        prop = schema["properties"][name]
        string = next(b for b in prop.pop("anyOf") if b.get("type") == "string")
        prop.update(string)
        prop.pop("default", None)
    schema["oneOf"] = [{"required": ["user_id"]}, {"required": ["email"]}]


class MemberAdd(NoNulls):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_of_user_id_or_email)
    user_id: str | None = Field(default=None, min_length=1, max_length=64)
    email: str | None = Field(default=None, min_length=3, max_length=320)
    role: ProjectRole = ProjectRole.MEMBER

    @model_validator(mode="after")
    def _one_way(self) -> MemberAdd:
        if (self.user_id is None) == (self.email is None):
            raise ValueError("give exactly one of user_id or email")
        return self


class MemberRoleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: ProjectRole


class MemberOut(BaseModel):
    user_id: str
    name: str | None = Field(description="null if the account no longer exists")
    email: str | None
    role: ProjectRole
    added_at: datetime


class MemberPage(Page[MemberOut]):
    pass


class MemberSearch(PageParams):
    q: Query


class CandidateSearch(PageParams):
    # At least two characters besides spaces, and no NUL byte.
    q: Annotated[str, StringConstraints(
        strip_whitespace=True, min_length=2, max_length=100,
        pattern=r"^[^\x00]*[^\x00\s][^\x00]*[^\x00\s][^\x00]*$",
    )]


class CandidatePage(Page[Profile]):
    pass


async def member_page(
    ctx: AppContext, project: Project, params: PageParams, prefix: str = ""
) -> MemberPage:
    """A page of members with their profiles: in joining order, or matches of `prefix` by
    name."""
    members = {m.user_id: m for m in project.members}
    if prefix:
        found = await ctx.stores.projects.profiles(list(members), prefix)
        total = len(found)
        profiles = found[params.offset:params.offset + params.limit]
        window = [members[p.user_id] for p in profiles]
    else:
        ordered = sorted(project.members, key=lambda m: (m.added_at, m.user_id))
        total = len(ordered)
        window = ordered[params.offset:params.offset + params.limit]
        profiles = await ctx.stores.projects.profiles([m.user_id for m in window])
    by_id = {p.user_id: p for p in profiles}
    items = [member_out(m, by_id.get(m.user_id)) for m in window]
    return MemberPage(items=items, total=total, limit=params.limit, offset=params.offset)


def member_out(member: Member, profile: Profile | None) -> MemberOut:
    return MemberOut(user_id=member.user_id, role=member.role, added_at=member.added_at,
                     name=profile.name if profile else None,
                     email=profile.email if profile else None)


@router.get("/projects/{project_id}/members", query=PageParams, response=MemberPage,
            errors=(404,))
async def list_members(call: Call[NoModel, PageParams]) -> MemberPage:
    """The project's members with their names and emails, in the order they joined."""
    project_id = call.path["project_id"]
    await require_member(call.ctx, project_id, call.user)
    return await member_page(call.ctx, await load_project(call.ctx, project_id), call.query)


@router.get("/projects/{project_id}/members/search", query=MemberSearch, response=MemberPage,
            errors=(404,))
async def search_members(call: Call[NoModel, MemberSearch]) -> MemberPage:
    """Members whose name (any case) or email starts with `q`, by name."""
    project_id = call.path["project_id"]
    await require_member(call.ctx, project_id, call.user)
    project = await load_project(call.ctx, project_id)
    return await member_page(call.ctx, project, call.query, call.query.q)


@router.get("/projects/{project_id}/candidates", access="head", query=CandidateSearch,
            response=CandidatePage, errors=(403, 404))
async def search_candidates(call: Call[NoModel, CandidateSearch]) -> CandidatePage:
    """Active users outside the project whose name or email starts with `q` (at least two
    characters), by name, for a head choosing whom to add."""
    project_id = call.path["project_id"]
    await require_head(call.ctx, project_id, call.user)
    project = await load_project(call.ctx, project_id)
    page = await call.ctx.stores.projects.search_users(
        call.query.q, exclude=[m.user_id for m in project.members], params=call.query
    )
    return CandidatePage(items=page.items, total=page.total, limit=page.limit,
                         offset=page.offset)


@router.post("/projects/{project_id}/members", access="head", body=MemberAdd, response=MemberOut,
             status=201, errors=(403, 404, 409))
async def add_member(call: Call[MemberAdd, NoModel]) -> MemberOut:
    """Add a user (by id or email) to the project (head); they are notified."""
    ctx, project_id = call.ctx, call.path["project_id"]
    await require_head(ctx, project_id, call.user)
    body = call.body
    user = (await ctx.stores.users.get(body.user_id) if body.user_id is not None
            else await ctx.stores.users.by_email(body.email or ""))
    if user is None or not user.active:
        raise NotFound("user not found")
    project = await ctx.stores.projects.add_member(project_id, user.id, body.role)
    if project is None:
        await load_project(ctx, project_id)
        raise Conflict("the user is already a member")
    member = next(m for m in project.members if m.user_id == user.id)
    await notify(ctx, user.id, "project.added", f"You were added to {project.name}",
                 {"project_id": project_id, "role": member.role.value,
                  "by": call.user.user_id})
    out = MemberOut(user_id=user.id, name=user.name, email=user.email, role=member.role,
                    added_at=member.added_at)
    await member_event(ctx, project_id, "member.added", out, call.user.user_id)
    return out


async def member_event(ctx: AppContext, project_id: str, event: str, member: MemberOut,
                       by: str, **extra: Any) -> None:
    await publish(ctx, f"project:{project_id}", event,
                  {"member": member.model_dump(mode="json"), "by": by, **extra})


@router.patch("/projects/{project_id}/members/{user_id}", access="head", body=MemberRoleUpdate,
              response=MemberOut, errors=(403, 404, 409))
async def change_member_role(call: Call[MemberRoleUpdate, NoModel]) -> MemberOut:
    """Change a member's role (head); the last head cannot step down (409)."""
    ctx, project_id, user_id = call.ctx, call.path["project_id"], call.path["user_id"]
    await require_head(ctx, project_id, call.user)
    project = await ctx.stores.projects.set_member_role(project_id, user_id, call.body.role)
    if project is None:
        raise NotFound("member not found")
    member = next(m for m in project.members if m.user_id == user_id)
    profile = next(iter(await ctx.stores.projects.profiles([user_id])), None)
    out = member_out(member, profile)
    await member_event(ctx, project_id, "member.role_changed", out, call.user.user_id)
    return out


@router.delete("/projects/{project_id}/members/{user_id}", access="head", status=204,
               errors=(403, 404, 409))
async def remove_member(call: Call[NoModel, NoModel]) -> None:
    """Remove a member (head), or leave (any member removing themselves). A project keeps at
    least one head (409). The user's sockets leave the project's rooms at once, their tasks
    are unassigned, and a removed user is notified."""
    ctx, project_id, user_id = call.ctx, call.path["project_id"], call.path["user_id"]
    if user_id == call.user.user_id:
        await require_member(ctx, project_id, call.user)
    else:
        await require_head(ctx, project_id, call.user)
    project = await load_project(ctx, project_id)
    await drop_member(ctx, project_id, user_id)
    await publish(ctx, f"project:{project_id}", "member.removed",
                  {"user_id": user_id, "by": call.user.user_id})
    if user_id != call.user.user_id:
        await notify(ctx, user_id, "project.removed", f"You were removed from {project.name}",
                     {"project_id": project_id, "by": call.user.user_id})
