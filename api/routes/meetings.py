"""REST routes: meetings in a project."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.auth import Principal
from api.authz import check_head, require_head, require_member
from api.context import AppContext
from api.routes.projects import Moment, Name, Text, load_project, publish
from api.routing import Call, NoModel, Router
from core.errors import Conflict, NotFound
from core.models import Page, PageParams, ProjectRole
from core.store.attendance import Attendance
from core.store.meetings import Meeting, MeetingStatus

router = Router(tags=["meetings"])


class MeetingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Name
    agenda: Text = ""
    scheduled_at: Moment

    @field_validator("scheduled_at")
    @classmethod
    def _in_utc(cls, moment: datetime) -> datetime:
        try:
            return as_stored(moment)
        except OverflowError as exc:  # 0001-01-01T00:00+01:00 has no UTC equivalent
            raise ValueError("the time is out of range") from exc


class MeetingQuery(PageParams):
    status: MeetingStatus | None = None


class MeetingPage(Page[Meeting]):
    pass


class Participant(BaseModel):
    user_id: str
    name: str | None
    email: str | None
    role: ProjectRole
    visits: int = Field(description="how many times one of their connections joined the meeting")
    first_joined_at: datetime | None
    last_left_at: datetime | None = Field(
        description="when their last stay ended; null if they never came or a stay is open"
    )


@dataclass
class Stays:
    visits: int = 0
    first_joined_at: datetime | None = None
    last_left_at: datetime | None = None
    open: bool = False

    def add(self, record: Attendance) -> None:
        self.visits += 1
        if self.first_joined_at is None or record.joined_at < self.first_joined_at:
            self.first_joined_at = record.joined_at
        if record.left_at is None:
            self.open = True
        elif self.last_left_at is None or record.left_at > self.last_left_at:
            self.last_left_at = record.left_at


async def stays_in(ctx: AppContext, meeting_id: str) -> dict[str, Stays]:
    stays: dict[str, Stays] = defaultdict(Stays)
    for record in await ctx.stores.attendance.list_for_meeting(meeting_id):
        stays[record.user_id].add(record)
    return stays


class ParticipantPage(Page[Participant]):
    pass


def as_stored(moment: datetime) -> datetime:
    # MongoDB keeps UTC milliseconds; store exactly what a later read will give back.
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


async def load_meeting(
    ctx: AppContext, meeting_id: str, user: Principal
) -> tuple[Meeting, ProjectRole]:
    meeting = await ctx.stores.meetings.get(meeting_id)
    if meeting is None:
        raise NotFound("meeting not found")
    role = await require_member(ctx, meeting.project_id, user, "meeting")
    return meeting, role


async def announce(ctx: AppContext, event: str, meeting: Meeting) -> None:
    data = {"meeting": meeting.model_dump(mode="json")}
    await publish(ctx, f"meeting:{meeting.id}", event, data)
    await publish(ctx, f"project:{meeting.project_id}", event, data)


@router.post("/projects/{project_id}/meetings", body=MeetingCreate, response=Meeting,
             status=201, errors=(403, 404))
async def create_meeting(call: Call[MeetingCreate, NoModel]) -> Meeting:
    """Schedule a meeting in the project (head). `scheduled_at` needs a timezone."""
    project_id = call.path["project_id"]
    await require_head(call.ctx, project_id, call.user)
    return await call.ctx.stores.meetings.create(
        project_id=project_id, title=call.body.title, agenda=call.body.agenda,
        scheduled_at=call.body.scheduled_at, created_by=call.user.user_id,
    )


@router.get("/projects/{project_id}/meetings", query=MeetingQuery, response=MeetingPage,
            errors=(404,))
async def list_meetings(call: Call[NoModel, MeetingQuery]) -> MeetingPage:
    """The project's meetings by scheduled time, optionally only those in one status."""
    project_id = call.path["project_id"]
    await require_member(call.ctx, project_id, call.user)
    page = await call.ctx.stores.meetings.list_for_project(
        project_id, call.query, call.query.status
    )
    return MeetingPage(items=page.items, total=page.total, limit=page.limit, offset=page.offset)


@router.get("/meetings/{meeting_id}", response=Meeting, errors=(404,))
async def get_meeting(call: Call[NoModel, NoModel]) -> Meeting:
    """One meeting of a project the caller is a member of."""
    meeting, _ = await load_meeting(call.ctx, call.path["meeting_id"], call.user)
    return meeting


@router.post("/meetings/{meeting_id}/start", response=Meeting, errors=(403, 404, 409))
async def start_meeting(call: Call[NoModel, NoModel]) -> Meeting:
    """Start a scheduled meeting (head); `meeting.started` goes to the meeting and project
    rooms. A meeting that is already live or ended answers 409."""
    meeting, role = await load_meeting(call.ctx, call.path["meeting_id"], call.user)
    check_head(role, call.user.role, "meeting")
    started = await call.ctx.stores.meetings.start(meeting.id)
    if started is None:
        raise Conflict(f"the meeting is {meeting.status.value}, not scheduled")
    await announce(call.ctx, "meeting.started", started)
    return started


@router.post("/meetings/{meeting_id}/end", response=Meeting, errors=(403, 404, 409))
async def end_meeting(call: Call[NoModel, NoModel]) -> Meeting:
    """End a live meeting (head); `meeting.ended` goes to the meeting and project rooms.
    A meeting that is not live answers 409."""
    meeting, role = await load_meeting(call.ctx, call.path["meeting_id"], call.user)
    check_head(role, call.user.role, "meeting")
    ended = await call.ctx.stores.meetings.end(meeting.id)
    if ended is None:
        raise Conflict(f"the meeting is {meeting.status.value}, not live")
    await announce(call.ctx, "meeting.ended", ended)
    return ended


@router.get("/meetings/{meeting_id}/participants", query=PageParams,
            response=ParticipantPage, errors=(404,))
async def list_participants(call: Call[NoModel, PageParams]) -> ParticipantPage:
    """Who may take part: the project's members with their names, roles and attendance (from
    the meeting's recorded stays; live presence is on the socket, not here)."""
    meeting, _ = await load_meeting(call.ctx, call.path["meeting_id"], call.user)
    project = await load_project(call.ctx, meeting.project_id)
    members = sorted(project.members, key=lambda m: (m.added_at, m.user_id))
    window = members[call.query.offset:call.query.offset + call.query.limit]
    profiles = {
        p.user_id: p
        for p in await call.ctx.stores.projects.profiles([m.user_id for m in window])
    }
    stays = await stays_in(call.ctx, meeting.id)
    items = []
    for m in window:
        profile, stay = profiles.get(m.user_id), stays.get(m.user_id, Stays())
        items.append(Participant(
            user_id=m.user_id, role=m.role, name=profile.name if profile else None,
            email=profile.email if profile else None, visits=stay.visits,
            first_joined_at=stay.first_joined_at,
            last_left_at=None if stay.open else stay.last_left_at,
        ))
    return ParticipantPage(items=items, total=len(members), limit=call.query.limit,
                           offset=call.query.offset)
