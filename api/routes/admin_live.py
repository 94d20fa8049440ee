"""REST routes for admins: the live side (sockets per process and per user, rooms with their
members, disconnecting a user, an announcement to every socket) and the jobs of every project,
with a retry for the failed (dead-lettered) ones."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.responses import Response

from api.context import AppContext
from api.routes.jobs_common import JobOut, job_location, publish_job
from api.routing import Call, NoModel, Router, json_response
from core.errors import InvalidState, NotFound, ServiceUnavailable
from core.live import LIVE_ADMIN_KEY, AnnouncementLevel, Census, LiveControl
from core.models import Page, PageParams
from core.store.jobs import JobKind, JobStatus

router = Router(tags=["admin"])
MAX_LISTED = 1000


class LiveQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=100, ge=1, le=MAX_LISTED,
                       description="most users (or rooms) listed, the busiest first")


class ProcessOut(BaseModel):
    process_id: str
    sockets: int
    users: int


class UserConnectionsOut(BaseModel):
    user_id: str
    sockets: int
    processes: list[str]


class ConnectionsOut(BaseModel):
    complete: bool = Field(description="false when a live process did not answer in time")
    sockets: int
    users: int
    processes: list[ProcessOut]
    by_user: list[UserConnectionsOut]


class RoomOut(BaseModel):
    room: str
    users: int
    sockets: int


class RoomsOut(BaseModel):
    complete: bool
    total: int = Field(description="rooms with at least one socket (the users' own rooms too)")
    rooms: list[RoomOut]


class AnnouncementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                              max_length=1000)]
    level: AnnouncementLevel = "info"


class LiveAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"


class AdminJobQuery(PageParams):
    model_config = ConfigDict(extra="forbid")

    status: JobStatus | None = None
    kind: JobKind | None = None


class AdminJobPage(Page[JobOut]):
    pass


def live_of(ctx: AppContext) -> LiveControl:
    live: LiveControl | None = ctx.extras.get(LIVE_ADMIN_KEY)
    if live is None:
        raise ServiceUnavailable("this process serves no sockets")
    return live


@router.get("/admin/live/connections", query=LiveQuery, response=ConnectionsOut, auth="admin",
            errors=(503,))
async def admin_live_connections(call: Call[NoModel, LiveQuery]) -> ConnectionsOut:
    """Connected sockets on every serving process, and per user (the most connected first)."""
    census = await live_of(call.ctx).census()
    per_user: dict[str, Counter[str]] = defaultdict(Counter)
    processes = []
    for process in census.processes:
        users = {socket.user_id for socket in process.sockets}
        processes.append(ProcessOut(process_id=process.process_id,
                                    sockets=len(process.sockets), users=len(users)))
        for socket in process.sockets:
            per_user[socket.user_id][process.process_id] += 1
    by_user = sorted(
        (UserConnectionsOut(user_id=user, sockets=sum(counts.values()),
                            processes=sorted(counts)) for user, counts in per_user.items()),
        key=lambda u: (-u.sockets, u.user_id))
    return ConnectionsOut(complete=census.complete, sockets=sum(p.sockets for p in processes),
                          users=len(per_user), processes=processes,
                          by_user=by_user[:call.query.limit])


@router.get("/admin/live/rooms", query=LiveQuery, response=RoomsOut, auth="admin",
            errors=(503,))
async def admin_live_rooms(call: Call[NoModel, LiveQuery]) -> RoomsOut:
    """Rooms with a socket in them on any process, with their users and sockets (largest
    first)."""
    rooms = _rooms(await live_of(call.ctx).census())
    return RoomsOut(complete=rooms[0], total=len(rooms[1]), rooms=rooms[1][:call.query.limit])


def _rooms(census: Census) -> tuple[bool, list[RoomOut]]:
    users: dict[str, set[str]] = defaultdict(set)
    sockets: Counter[str] = Counter()
    for process in census.processes:
        for socket in process.sockets:
            for room in socket.rooms:
                users[room].add(socket.user_id)
                sockets[room] += 1
    listed = [RoomOut(room=room, users=len(members), sockets=sockets[room])
              for room, members in users.items()]
    listed.sort(key=lambda r: (-r.users, -r.sockets, r.room))
    return census.complete, listed


@router.post("/admin/live/users/{user_id}/disconnect", response=LiveAccepted, status=202,
             auth="admin", errors=(404, 503))
async def admin_disconnect_user(call: Call[NoModel, NoModel]) -> LiveAccepted:
    """Every socket of the user, on every process, gets `session:ending` (code
    `disconnected_by_admin`) and is closed. The user may connect again: deactivate the account
    (PATCH /admin/users/{id}) to keep them out."""
    user_id = call.path["user_id"]
    if await call.ctx.stores.users.get(user_id) is None:
        raise NotFound("user not found")
    await live_of(call.ctx).disconnect_user(user_id)
    return LiveAccepted()


@router.post("/admin/live/announcements", body=AnnouncementIn, response=LiveAccepted,
             status=202, auth="admin", errors=(503,))
async def admin_announce(call: Call[AnnouncementIn, NoModel]) -> LiveAccepted:
    """`server:announcement` to every connected socket on every process (not stored: a socket
    that connects later does not get it)."""
    await live_of(call.ctx).announce(call.body.message, call.body.level)
    return LiveAccepted()


@router.get("/admin/jobs", query=AdminJobQuery, response=AdminJobPage, auth="admin")
async def admin_list_jobs(call: Call[NoModel, AdminJobQuery]) -> AdminJobPage:
    """Jobs of every project, newest first; `status=failed` lists the dead letters."""
    query = call.query
    page = await call.ctx.stores.jobs.page_by_status(query, query.status, query.kind)
    return AdminJobPage(items=[JobOut.of(job) for job in page.items], total=page.total,
                        limit=page.limit, offset=page.offset)


@router.post("/admin/jobs/{job_id}/retry", response=JobOut, status=202, auth="admin",
             errors=(404, 409, 503))
async def admin_retry_job(call: Call[NoModel, NoModel]) -> Response:
    """Run a failed job again from its first attempt (409 `invalid_state` unless it is
    `failed`). 503 when the queue is unreachable: the job stays queued and the workers' sweep
    sends it once the queue is back."""
    ctx, job_id = call.ctx, call.path["job_id"]
    job = await ctx.stores.jobs.get(job_id)
    if job is None:
        raise NotFound("job not found")
    requeued = await ctx.stores.jobs.requeue_failed(job_id)
    if requeued is None:
        raise InvalidState(f"the job is {job.status.value}", details={"status": job.status.value})
    await publish_job(ctx, requeued, "job.progress")
    await ctx.jobs.enqueue(requeued.kind.value, requeued.id)
    return json_response(JobOut.of(requeued), 202, headers={"Location": job_location(job_id)})
