"""REST routes: a meeting's states (scheduled, live, ended, cancelled) and what each allows:
change, start, end, cancel, delete, remind now. What a state does not allow answers 409
`invalid_state` and changes nothing."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pydantic import field_validator

from api.authz import check_head
from api.context import AppContext
from api.patch_bodies import Patch
from api.routes.meetings import (
    Duration,
    announce,
    as_stored,
    load_meeting,
    refuse_past,
    tell_members,
    when,
)
from api.routes.people import notices, planner
from api.routes.projects import Moment, Name, Text, load_project, publish
from api.routing import Call, NoModel, Router
from core.errors import InvalidState, NotFound, RoomcastError
from core.store.meetings import Meeting, MeetingStatus

log = logging.getLogger("roomcast.api")
router = Router(tags=["meetings"])


class MeetingUpdate(Patch):
    title: Name | None = None
    agenda: Text | None = None
    scheduled_at: Moment | None = None
    duration_minutes: Duration | None = None

    @field_validator("scheduled_at")
    @classmethod
    def _in_utc(cls, moment: datetime | None) -> datetime | None:
        try:
            return None if moment is None else as_stored(moment)
        except OverflowError as exc:
            raise ValueError("the time is out of range") from exc


async def head_meeting(call: Call[Any, Any]) -> Meeting:
    meeting, role = await load_meeting(call.ctx, call.path["meeting_id"], call.user)
    check_head(role, call.user.role, "meeting")
    return meeting


def not_in(meeting: Meeting, action: str) -> InvalidState:
    return InvalidState(f"a {meeting.status.value} meeting cannot {action}",
                        details={"status": meeting.status.value})


EDITABLE = (MeetingStatus.SCHEDULED, MeetingStatus.LIVE)


@router.patch("/meetings/{meeting_id}", access="head", body=MeetingUpdate, response=Meeting,
              errors=(403, 404, 409))
async def update_meeting(call: Call[MeetingUpdate, NoModel]) -> Meeting:
    """Change a meeting (head): its title and agenda while scheduled or live, its time and
    duration only while scheduled (409 `invalid_state` otherwise). Moving it moves its
    reminders; members are told of a new time."""
    ctx, changes = call.ctx, call.body.changes()
    meeting = await head_meeting(call)
    moves = {"scheduled_at", "duration_minutes"} & set(changes)
    allowed = (MeetingStatus.SCHEDULED,) if moves else EDITABLE
    if meeting.status not in allowed:
        raise not_in(meeting, "be changed" if not moves else "be moved")
    if "scheduled_at" in changes:
        refuse_past(changes["scheduled_at"])
    if not changes:
        return meeting
    updated = await ctx.stores.meetings.update(meeting.id, allowed, **changes)
    if updated is None:  # it changed state meanwhile
        raise not_in(await _reload(ctx, meeting.id), "be changed")
    await planner(ctx).meeting(updated)
    await announce(ctx, "meeting.changed", updated, call.user.user_id)
    if moves and (updated.scheduled_at, updated.duration_minutes) != (
            meeting.scheduled_at, meeting.duration_minutes):
        await tell_members(ctx, updated, "meeting.changed",
                           f"{updated.title} moved to {when(updated)}", call.user.user_id)
    return updated


async def _reload(ctx: AppContext, meeting_id: str) -> Meeting:
    meeting = await ctx.stores.meetings.get(meeting_id)
    if meeting is None:
        raise NotFound("meeting not found")
    return meeting


@router.post("/meetings/{meeting_id}/start", access="head",
             response=Meeting, errors=(403, 404, 409))
async def start_meeting(call: Call[NoModel, NoModel]) -> Meeting:
    """Start a scheduled meeting (head); `meeting.started` goes to the meeting and project
    rooms. A meeting that is not scheduled answers 409 `invalid_state`."""
    meeting = await head_meeting(call)
    started = await call.ctx.stores.meetings.start(meeting.id)
    if started is None:
        raise not_in(await _reload(call.ctx, meeting.id), "start")
    await planner(call.ctx).meeting(started)
    await announce(call.ctx, "meeting.started", started)
    return started


@router.post("/meetings/{meeting_id}/end", access="head", response=Meeting, errors=(403, 404, 409))
async def end_meeting(call: Call[NoModel, NoModel]) -> Meeting:
    """End a live meeting (head); `meeting.ended` goes to the meeting and project rooms.
    A meeting that is not live answers 409 `invalid_state`."""
    meeting = await head_meeting(call)
    ended = await call.ctx.stores.meetings.end(meeting.id)
    if ended is None:
        raise not_in(await _reload(call.ctx, meeting.id), "end")
    await announce(call.ctx, "meeting.ended", ended)
    return ended


@router.post("/meetings/{meeting_id}/cancel", access="head",
             response=Meeting, errors=(403, 404, 409))
async def cancel_meeting(call: Call[NoModel, NoModel]) -> Meeting:
    """Cancel a scheduled meeting (head): its reminders are dropped, members are told, and
    `meeting.cancelled` goes to its rooms. A live, ended or cancelled one answers 409."""
    ctx = call.ctx
    meeting = await head_meeting(call)
    cancelled = await ctx.stores.meetings.cancel(meeting.id)
    if cancelled is None:
        raise not_in(await _reload(ctx, meeting.id), "be cancelled")
    await planner(ctx).meeting(cancelled)
    await announce(ctx, "meeting.cancelled", cancelled, call.user.user_id)
    await tell_members(ctx, cancelled, "meeting.cancelled",
                       f"{cancelled.title} on {when(cancelled)} is cancelled",
                       call.user.user_id)
    return cancelled


@router.delete("/meetings/{meeting_id}", access="head", status=204, errors=(403, 404, 409))
async def delete_meeting(call: Call[NoModel, NoModel]) -> None:
    """Delete a meeting that is not live (head), with its messages and attendance; a live
    one answers 409 (end it first). `meeting.deleted` goes to its rooms."""
    ctx = call.ctx
    meeting = await head_meeting(call)
    gone = (MeetingStatus.SCHEDULED, MeetingStatus.ENDED, MeetingStatus.CANCELLED)
    if not await ctx.stores.meetings.delete(meeting.id, gone):
        raise not_in(await _reload(ctx, meeting.id), "be deleted")
    await purge_meeting(ctx, meeting.id)
    await announce(ctx, "meeting.deleted", meeting, call.user.user_id)


async def purge_meeting(ctx: AppContext, meeting_id: str) -> None:
    await planner(ctx).drop_all(meeting_id)
    await ctx.stores.messages.delete_for_meeting(meeting_id)
    await ctx.stores.attendance.delete_for_meeting(meeting_id)


@router.post("/meetings/{meeting_id}/remind", access="head",
             response=Meeting, errors=(403, 404, 409))
async def remind_now(call: Call[NoModel, NoModel]) -> Meeting:
    """Remind every member now (head), as each one's preferences say: a `meeting.reminder`
    notification. Only a scheduled or live meeting: a cancelled or ended one answers 409."""
    ctx = call.ctx
    meeting = await head_meeting(call)
    if meeting.status not in EDITABLE:
        raise not_in(meeting, "be reminded of")
    project = await load_project(ctx, meeting.project_id)
    data = {"meeting_id": meeting.id, "project_id": meeting.project_id,
            "by": call.user.user_id, "lead_minutes": 0,
            "scheduled_at": meeting.scheduled_at.isoformat().replace("+00:00", "Z")}
    title = (f"{meeting.title} is live now" if meeting.status == MeetingStatus.LIVE
             else f"Reminder: {meeting.title} at {when(meeting)}")
    for member in project.members:
        sent = await notify_member(ctx, member.user_id, title, data)
        if sent is not None:
            await publish(ctx, f"user:{member.user_id}", "meeting.reminded", {
                "meeting": meeting.model_dump(mode="json"), "lead_minutes": 0,
                "notification_id": sent["id"]})
    return meeting


async def notify_member(ctx: AppContext, user_id: str, title: str,
                        data: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return await notices(ctx).send(user_id, "meeting.reminder", title, "", data)
    except RoomcastError as exc:
        log.warning("could not remind %s: %s", user_id, exc.message)
        return None
