"""REST routes: each user's calendar feed (iCalendar, RFC 5545, made with `icalendar`): the
meetings of all their projects, at a secret URL a calendar app subscribes to without signing
in. Rotating the secret makes the old URL answer 404."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel
from starlette.responses import Response

from api.membership import projects_of
from api.routes.people import post_office
from api.routing import Call, NoModel, Router
from core.errors import NotFound
from core.ids import utcnow
from core.imports import imported
from core.store.meetings import Meeting, MeetingStatus

router = Router(tags=["calendar"])
PAST = timedelta(days=90)  # how far back the feed reaches
ICS = "text/calendar"
STATUS = {MeetingStatus.CANCELLED: "CANCELLED"}

if TYPE_CHECKING:
    from icalendar import Event


class CalendarFeed(BaseModel):
    url: str


def feed_url(call: Call[NoModel, NoModel], key: str) -> str:
    return f"{post_office(call.ctx).base_url}/api/v1/calendar/{key}.ics"


@router.get("/users/me/calendar", response=CalendarFeed)
async def my_calendar(call: Call[NoModel, NoModel]) -> CalendarFeed:
    """The caller's calendar feed URL (made on first use). Anyone with it reads the feed:
    keep it secret, rotate it if it leaks."""
    key = await call.ctx.stores.preferences.calendar_key(call.user.user_id)
    return CalendarFeed(url=feed_url(call, key))


@router.post("/users/me/calendar/rotate", response=CalendarFeed)
async def rotate_calendar(call: Call[NoModel, NoModel]) -> CalendarFeed:
    """A new feed URL; the old one stops working at once."""
    key = await call.ctx.stores.preferences.calendar_key(call.user.user_id, rotate=True)
    return CalendarFeed(url=feed_url(call, key))


@router.get("/calendar/{key}.ics", auth="none", errors=(404,), response_media=ICS)
async def calendar_feed(call: Call[NoModel, NoModel]) -> Response:
    """The feed: every meeting of the user's projects from 90 days ago on (each occurrence of
    a series as its own event; cancelled ones as STATUS:CANCELLED). An unknown or rotated
    key answers 404."""
    ctx = call.ctx
    user_id = await ctx.stores.preferences.by_calendar_key(call.path["key"])
    user = None if user_id is None else await ctx.stores.users.get(user_id)
    if user is None or not user.active:
        raise NotFound("no such calendar")
    projects = {p.id: p.name for p in await projects_of(ctx, user.id)}
    meetings = await ctx.stores.meetings.list_for_projects(list(projects), utcnow() - PAST)
    # icalendar comes with the first feed asked for, not with the server's start-up.
    await imported("icalendar")
    from icalendar import Calendar

    calendar = Calendar()
    calendar.add("prodid", "-//Roomcast//Meetings//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"Roomcast: {user.name}")
    for meeting in meetings:
        calendar.add_component(_event(meeting, projects.get(meeting.project_id, "")))
    return Response(calendar.to_ical(), media_type=f"{ICS}; charset=utf-8",
                    headers={"Cache-Control": "private, max-age=300"})


def _event(meeting: Meeting, project: str) -> Event:
    from icalendar import Event

    event = Event()
    event.add("uid", f"{meeting.id}@roomcast")
    event.add("dtstamp", meeting.updated_at or meeting.created_at)
    event.add("dtstart", meeting.scheduled_at)
    event.add("dtend", meeting.scheduled_at + timedelta(minutes=meeting.duration_minutes))
    event.add("summary", meeting.title)
    event.add("description", f"{project}\n\n{meeting.agenda}".strip())
    event.add("status", STATUS.get(meeting.status, "CONFIRMED"))
    if meeting.updated_at is not None:
        event.add("last-modified", meeting.updated_at)
        # Calendar apps apply a changed event when its sequence grows.
        event.add("sequence", int(meeting.updated_at.timestamp()) - int(
            meeting.created_at.timestamp()))
    return event
