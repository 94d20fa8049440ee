"""REST routes: a meeting's messages and its engagement (attendance, time present, messages)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from api.routing import Call, NoModel, Router
from core.errors import NotAMember
from core.ids import utcnow
from core.models import Page, PageParams, Role
from core.store.attendance import Attendance
from core.store.meetings import Meeting
from core.store.messages import MeetingMessage

router = Router(tags=["meetings"])


class MessageOut(BaseModel):
    id: str
    meeting_id: str
    user_id: str
    user_name: str
    text: str
    offset: int
    client_id: str | None
    created_at: datetime


class UserEngagement(BaseModel):
    user_id: str
    sessions: int
    seconds_present: float
    first_joined_at: datetime | None
    last_left_at: datetime | None
    present_now: bool
    messages: int


class EngagementOut(BaseModel):
    meeting_id: str
    users: list[UserEngagement]
    messages: int


async def _meeting_for(call: Call[NoModel, PageParams] | Call[NoModel, NoModel]) -> Meeting:
    stores = call.ctx.stores
    meeting = await stores.meetings.get(call.path["meeting_id"])
    if meeting is not None:
        role = await stores.projects.member_role(meeting.project_id, call.user.user_id)
        if role is not None or call.user.role == Role.ADMIN:
            return meeting
    raise NotAMember("meeting not found")


@router.get("/meetings/{meeting_id}/messages", query=PageParams, response=Page[MessageOut],
            errors=(401, 404))
async def list_meeting_messages(call: Call[NoModel, PageParams]) -> Page[MessageOut]:
    """Messages sent in the meeting's room, oldest first."""
    meeting = await _meeting_for(call)
    page = await call.ctx.stores.messages.list_for_meeting(meeting.id, call.query)
    return Page[MessageOut](items=[_message_out(m) for m in page.items], total=page.total,
                            limit=page.limit, offset=page.offset)


@router.get("/meetings/{meeting_id}/engagement", response=EngagementOut, errors=(401, 404))
async def meeting_engagement(call: Call[NoModel, NoModel]) -> EngagementOut:
    """Per user: how often and how long they were present, and how many messages they sent.

    Time present counts overlapping connections (two tabs) once.
    """
    meeting = await _meeting_for(call)
    stores = call.ctx.stores
    records = await stores.attendance.list_for_meeting(meeting.id)
    counts = await stores.messages.count_by_user(meeting.id)
    by_user: dict[str, list[Attendance]] = {}
    for record in records:
        by_user.setdefault(record.user_id, []).append(record)
    now = utcnow()
    users = [user_engagement(uid, by_user.get(uid, []), counts.get(uid, 0), now)
             for uid in sorted(set(by_user) | set(counts))]
    return EngagementOut(meeting_id=meeting.id, users=users, messages=sum(counts.values()))


def user_engagement(
    user_id: str, records: list[Attendance], messages: int, now: datetime
) -> UserEngagement:
    spans = sorted((r.joined_at, r.left_at or now) for r in records)
    seconds = 0.0
    current: tuple[datetime, datetime] | None = None
    for start, end in spans:
        if current is None or start > current[1]:
            if current is not None:
                seconds += (current[1] - current[0]).total_seconds()
            current = (start, end)
        else:
            current = (current[0], max(current[1], end))
    if current is not None:
        seconds += (current[1] - current[0]).total_seconds()
    lefts = [r.left_at for r in records if r.left_at is not None]
    return UserEngagement(
        user_id=user_id, sessions=len(records), seconds_present=round(seconds, 3),
        first_joined_at=spans[0][0] if spans else None,
        last_left_at=max(lefts) if lefts else None,
        present_now=any(r.left_at is None for r in records), messages=messages,
    )


def _message_out(message: MeetingMessage) -> MessageOut:
    return MessageOut.model_validate(message.model_dump())
