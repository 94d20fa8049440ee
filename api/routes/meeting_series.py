"""REST routes: a recurring meeting as a whole (each occurrence is a meeting of its own)."""

from __future__ import annotations

from pydantic import BaseModel

from api.authz import require_head, require_member
from api.routes.meeting_states import not_in, purge_meeting
from api.routes.meetings import announce, tell_members, when
from api.routes.people import planner
from api.routing import Call, NoModel, Router
from core.errors import NotFound
from core.store.meetings import MeetingStatus
from core.store.series import MeetingSeries

router = Router(tags=["meetings"])


class SeriesCancelled(BaseModel):
    cancelled: int


async def load_series(call: Call[NoModel, NoModel], head: bool = False) -> MeetingSeries:
    series = await call.ctx.stores.series.get(call.path["series_id"])
    if series is None:
        raise NotFound("series not found")
    check = require_head if head else require_member
    await check(call.ctx, series.project_id, call.user, "series")
    return series


@router.get("/meeting-series/{series_id}", response=MeetingSeries, errors=(404,))
async def get_series(call: Call[NoModel, NoModel]) -> MeetingSeries:
    """A series: its rule, timezone and how many occurrences it made (list them with
    `GET /projects/{id}/meetings?series_id=`)."""
    return await load_series(call)


@router.post("/meeting-series/{series_id}/cancel", access="head", response=SeriesCancelled,
             errors=(403, 404))
async def cancel_series(call: Call[NoModel, NoModel]) -> SeriesCancelled:
    """Cancel every occurrence still scheduled (head); live and past ones stay as they are.
    Each gets `meeting.cancelled`; members get one notification."""
    ctx = call.ctx
    series = await load_series(call, head=True)
    cancelled = []
    for meeting in await ctx.stores.meetings.in_series(series.id, [MeetingStatus.SCHEDULED]):
        done = await ctx.stores.meetings.cancel(meeting.id)
        if done is not None:
            await planner(ctx).meeting(done)
            await announce(ctx, "meeting.cancelled", done, call.user.user_id)
            cancelled.append(done)
    if cancelled:
        await tell_members(ctx, cancelled[0], "meeting.cancelled",
                           f"{series.title}: {len(cancelled)} meetings from {when(cancelled[0])}"
                           " are cancelled", call.user.user_id)
    return SeriesCancelled(cancelled=len(cancelled))


@router.delete("/meeting-series/{series_id}", access="head", status=204, errors=(403, 404, 409))
async def delete_series(call: Call[NoModel, NoModel]) -> None:
    """Delete the series and all its occurrences (head); 409 `invalid_state` while one of
    them is live (end it first), and then nothing is deleted."""
    ctx = call.ctx
    series = await load_series(call, head=True)
    meetings = await ctx.stores.meetings.in_series(series.id)
    live = [m for m in meetings if m.status == MeetingStatus.LIVE]
    if live:
        raise not_in(live[0], "be deleted")
    gone = (MeetingStatus.SCHEDULED, MeetingStatus.ENDED, MeetingStatus.CANCELLED)
    for meeting in meetings:
        if await ctx.stores.meetings.delete(meeting.id, gone):
            await purge_meeting(ctx, meeting.id)
            await announce(ctx, "meeting.deleted", meeting, call.user.user_id)
    await ctx.stores.series.delete(series.id)


