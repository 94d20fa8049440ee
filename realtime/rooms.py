"""Who may join which room, and which project a room belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import NotFound
from core.store.stores import Stores
from realtime.contract import parse_room

_JOB_INTERNALS = {"lease_owner", "lease_until", "enqueued_ms"}


@dataclass(frozen=True)
class RoomGrant:
    room: str
    kind: str
    room_id: str
    project_id: str
    extra: dict[str, Any]  # fields added to the join ack (a job's current state)


class RoomAuthorizer:
    """Answers a non-member exactly like a missing room, so rooms do not leak existence."""

    def __init__(self, stores: Stores) -> None:
        self._stores = stores

    async def grant(self, room: str, user_id: str) -> RoomGrant:
        parsed = parse_room(room)
        if parsed is None or parsed[0] == "user":
            raise NotFound("no such room")
        kind, room_id = parsed
        project_id, extra = await self._project_of(kind, room_id)
        if project_id is None:
            raise NotFound("no such room")
        if await self._stores.projects.member_role(project_id, user_id) is None:
            raise NotFound("no such room")
        return RoomGrant(room, kind, room_id, project_id, extra)

    async def _project_of(self, kind: str, room_id: str) -> tuple[str | None, dict[str, Any]]:
        if kind == "project":
            return room_id, {}
        if kind == "meeting":
            meeting = await self._stores.meetings.get(room_id)
            return (None, {}) if meeting is None else (meeting.project_id, {})
        job = await self._stores.jobs.get(room_id)
        if job is None:
            return None, {}
        # As GET /api/v1/jobs/{id} shows it: without the runner's own bookkeeping.
        return job.project_id, {"state": job.model_dump(mode="json", exclude=_JOB_INTERNALS)}
