"""REST routes: engagement across a project's meetings over a range of days, per member
(meetings attended, attendance rate, time present, messages), as JSON or CSV. Heads only."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel, Field, model_validator
from starlette.responses import Response

from api.authz import require_head
from api.context import AppContext
from api.routes.meeting_messages import user_engagement
from api.routes.projects import Day, load_project
from api.routing import Call, NoModel, Router
from core.ids import utcnow
from core.store.meetings import MeetingStatus

router = Router(tags=["meetings"])
MAX_DAYS = 366
HELD = (MeetingStatus.LIVE, MeetingStatus.ENDED)


class RangeQuery(BaseModel):
    since: Day | None = Field(default=None, description="first day (UTC); default 30 days ago")
    until: Day | None = Field(default=None, description="last day, included; default today")

    @model_validator(mode="after")
    def _bounded(self) -> RangeQuery:
        until = self.until or utcnow().date()
        since = self.since or until - timedelta(days=30)
        if since > until:
            raise ValueError("since is after until")
        if (until - since).days >= MAX_DAYS:
            raise ValueError(f"a range covers at most {MAX_DAYS} days")
        self.since, self.until = since, until
        return self


class MemberEngagement(BaseModel):
    user_id: str
    name: str | None
    email: str | None
    meetings_attended: int
    attendance_rate: float = Field(description="attended / held, 0 to 1 (0 when none held)")
    seconds_present: float
    messages: int


class ProjectEngagement(BaseModel):
    project_id: str
    since: date
    until: date
    meetings_held: int = Field(description="meetings in the range that started")
    meetings_cancelled: int
    messages: int
    members: list[MemberEngagement]


async def engagement(ctx: AppContext, project_id: str, since: date,
                     until: date) -> ProjectEngagement:
    project = await load_project(ctx, project_id)
    start = datetime.combine(since, time(), UTC)
    end = datetime.combine(until + timedelta(days=1), time(), UTC)
    meetings = await ctx.stores.meetings.list_in_range(project_id, start, end)
    held = [m for m in meetings if m.status in HELD]
    attended: dict[str, int] = {}
    seconds: dict[str, float] = {}
    messages: dict[str, int] = {}
    now = utcnow()
    for meeting in held:
        records = await ctx.stores.attendance.list_for_meeting(meeting.id)
        counts = await ctx.stores.messages.count_by_user(meeting.id)
        for user_id in {r.user_id for r in records} | set(counts):
            mine = [r for r in records if r.user_id == user_id]
            one = user_engagement(user_id, mine, counts.get(user_id, 0), now)
            attended[user_id] = attended.get(user_id, 0) + (1 if mine else 0)
            seconds[user_id] = seconds.get(user_id, 0.0) + one.seconds_present
            messages[user_id] = messages.get(user_id, 0) + one.messages
    profiles = {p.user_id: p for p in await ctx.stores.projects.profiles(
        [m.user_id for m in project.members])}
    members = []
    for member in sorted(project.members, key=lambda m: (m.added_at, m.user_id)):
        profile = profiles.get(member.user_id)
        count = attended.get(member.user_id, 0)
        members.append(MemberEngagement(
            user_id=member.user_id, name=profile.name if profile else None,
            email=profile.email if profile else None, meetings_attended=count,
            attendance_rate=round(count / len(held), 4) if held else 0.0,
            seconds_present=round(seconds.get(member.user_id, 0.0), 3),
            messages=messages.get(member.user_id, 0)))
    return ProjectEngagement(
        project_id=project_id, since=since, until=until, meetings_held=len(held),
        meetings_cancelled=sum(m.status == MeetingStatus.CANCELLED for m in meetings),
        messages=sum(messages.values()), members=members)


async def _checked(call: Call[NoModel, RangeQuery]) -> ProjectEngagement:
    project_id = call.path["project_id"]
    await require_head(call.ctx, project_id, call.user)
    assert call.query.since is not None and call.query.until is not None
    return await engagement(call.ctx, project_id, call.query.since, call.query.until)


@router.get("/projects/{project_id}/engagement", access="head",
            query=RangeQuery, response=ProjectEngagement,
            errors=(403, 404))
async def project_engagement(call: Call[NoModel, RangeQuery]) -> ProjectEngagement:
    """Per member, across the meetings scheduled in the range (at most 366 days): how many
    of those held they attended, the rate, time present and messages (head)."""
    return await _checked(call)


@router.get("/projects/{project_id}/engagement.csv", access="head",
            query=RangeQuery, errors=(403, 404),
            response_media="text/csv")
async def project_engagement_csv(call: Call[NoModel, RangeQuery]) -> Response:
    """The same as CSV, one row per member (head)."""
    report = await _checked(call)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["user_id", "name", "email", "meetings_held", "meetings_attended",
                     "attendance_rate", "seconds_present", "messages"])
    for m in report.members:
        writer.writerow([m.user_id, _cell(m.name), _cell(m.email), report.meetings_held,
                         m.meetings_attended, m.attendance_rate, m.seconds_present,
                         m.messages])
    name = f"engagement-{report.project_id}-{report.since}-{report.until}.csv"
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _cell(value: str | None) -> str:
    # A cell starting with = + - @ is a formula to spreadsheets: keep names inert.
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
