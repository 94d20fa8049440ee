"""REST routes: meetings in a project."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from api.auth import Principal
from api.authz import require_head, require_member
from api.context import AppContext
from api.routes.people import notify, planner
from api.routes.projects import Moment, Name, Text, load_project, publish
from api.routing import Call, NoModel, Router
from core.errors import NotFound, ValidationFailed
from core.ids import utcnow
from core.models import Page, PageParams, ProjectRole
from core.recurrence import RecurrenceError, expand
from core.store.attendance import Attendance
from core.store.meetings import DEFAULT_DURATION_MINUTES, Meeting, MeetingStatus
from core.store.series import MeetingSeries

router = Router(tags=["meetings"])


Duration = Annotated[int, Field(ge=1, le=1440, description="minutes, 1 to 1440")]
# Clocks differ: a meeting "now" sent by a client is a little in the past when it arrives.
PAST_GRACE = timedelta(minutes=1)


class Recurrence(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule: Annotated[str, StringConstraints(min_length=6, max_length=500)] = Field(
        description="an RFC 5545 RRULE value, e.g. FREQ=WEEKLY;BYDAY=MO;COUNT=10 (DAILY, "
        "WEEKLY, MONTHLY or YEARLY; at most MEETING_MAX_OCCURRENCES occurrences)")
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        default="UTC", description="the IANA timezone the rule's times are read in")


class MeetingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Name
    agenda: Text = ""
    scheduled_at: Moment
    duration_minutes: Duration = DEFAULT_DURATION_MINUTES
    recurrence: Recurrence | None = None

    @field_validator("scheduled_at")
    @classmethod
    def _in_utc(cls, moment: datetime) -> datetime:
        try:
            return as_stored(moment)
        except OverflowError as exc:  # 0001-01-01T00:00+01:00 has no UTC equivalent
            raise ValueError("the time is out of range") from exc


def refuse_past(moment: datetime) -> None:
    if moment < utcnow() - PAST_GRACE:
        raise ValidationFailed("a meeting cannot be scheduled in the past", details=[
            {"loc": ["body", "scheduled_at"], "type": "in_the_past",
             "message": "the time has passed"}])


class MeetingQuery(PageParams):
    status: MeetingStatus | None = None
    series_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


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


async def announce(ctx: AppContext, event: str, meeting: Meeting, by: str | None = None,
                   *, meeting_room: bool = True) -> None:
    """The change, live: into the meeting's room (unless it is new: nobody is there yet) and
    the project's."""
    data: dict[str, Any] = {"meeting": meeting.model_dump(mode="json")}
    if by is not None:
        data["by"] = by
    if meeting_room:
        await publish(ctx, f"meeting:{meeting.id}", event, data)
    await publish(ctx, f"project:{meeting.project_id}", event, data)


async def tell_members(ctx: AppContext, meeting: Meeting, kind: str, title: str,
                       by: str) -> None:
    """A notification of `kind` to every member but the one who made the change."""
    project = await ctx.stores.projects.get(meeting.project_id)
    if project is None:
        return
    data = {"meeting_id": meeting.id, "project_id": meeting.project_id, "by": by,
            "scheduled_at": meeting.scheduled_at.isoformat().replace("+00:00", "Z")}
    for member in project.members:
        if member.user_id != by:
            await notify(ctx, member.user_id, kind, title, data)


def when(meeting: Meeting) -> str:
    return f"{meeting.scheduled_at:%Y-%m-%d %H:%M} UTC"


@router.post("/projects/{project_id}/meetings", access="head", body=MeetingCreate, response=Meeting,
             status=201, errors=(403, 404, 503))
async def create_meeting(call: Call[MeetingCreate, NoModel]) -> Meeting:
    """Schedule a meeting in the project (head). `scheduled_at` needs a timezone and may not
    be in the past. With `recurrence`, a series: every occurrence is a meeting (answered: the
    first; list them with `series_id`)."""
    ctx, body, project_id = call.ctx, call.body, call.path["project_id"]
    await require_head(ctx, project_id, call.user)
    refuse_past(body.scheduled_at)
    if body.recurrence is not None:
        meetings = await _series(ctx, project_id, body, call.user.user_id)
    else:
        meetings = [Meeting(project_id=project_id, title=body.title, agenda=body.agenda,
                            scheduled_at=body.scheduled_at, created_by=call.user.user_id,
                            duration_minutes=body.duration_minutes)]
        await ctx.stores.meetings.insert_many(meetings)
    for meeting in meetings:
        await planner(ctx).meeting(meeting)
        await announce(ctx, "meeting.scheduled", meeting, call.user.user_id, meeting_room=False)
    first = meetings[0]
    series = f" (and {len(meetings) - 1} more)" if len(meetings) > 1 else ""
    await tell_members(ctx, first, "meeting.scheduled",
                       f"{first.title} scheduled for {when(first)}{series}", call.user.user_id)
    return first


async def _series(ctx: AppContext, project_id: str, body: MeetingCreate,
                  user_id: str) -> list[Meeting]:
    assert body.recurrence is not None
    rule, tz = body.recurrence.rule, body.recurrence.timezone
    try:
        starts = await expand(rule, body.scheduled_at, tz, ctx.settings.meeting_max_occurrences)
    except RecurrenceError as exc:
        raise ValidationFailed("the recurrence is not valid", details=[
            {"loc": ["body", "recurrence", "rule"], "type": "invalid_recurrence",
             "message": str(exc)}]) from exc
    series = MeetingSeries(project_id=project_id, title=body.title, agenda=body.agenda,
                           rule=rule, timezone=tz, starts_at=starts[0],
                           duration_minutes=body.duration_minutes, occurrences=len(starts),
                           created_by=user_id)
    meetings = [Meeting(project_id=project_id, title=body.title, agenda=body.agenda,
                        scheduled_at=start, duration_minutes=body.duration_minutes,
                        created_by=user_id, series_id=series.id, occurrence_at=start)
                for start in starts]
    await ctx.stores.series.create(series)
    await ctx.stores.meetings.insert_many(meetings)
    return meetings


@router.get("/projects/{project_id}/meetings", query=MeetingQuery, response=MeetingPage,
            errors=(404,))
async def list_meetings(call: Call[NoModel, MeetingQuery]) -> MeetingPage:
    """The project's meetings by scheduled time, optionally only those in one status or of
    one series."""
    project_id = call.path["project_id"]
    await require_member(call.ctx, project_id, call.user)
    page = await call.ctx.stores.meetings.list_for_project(
        project_id, call.query, call.query.status, call.query.series_id
    )
    return MeetingPage(items=page.items, total=page.total, limit=page.limit, offset=page.offset)


@router.get("/meetings/{meeting_id}", response=Meeting, errors=(404,))
async def get_meeting(call: Call[NoModel, NoModel]) -> Meeting:
    """One meeting of a project the caller is a member of."""
    meeting, _ = await load_meeting(call.ctx, call.path["meeting_id"], call.user)
    return meeting


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
