"""Who may join which room, and which project a room belongs to.

A reconnecting crowd asks the same questions thousands of times (the meeting's project, the
user's membership): answers are kept while the collection they were read from provably has not
changed (`Repository.version`: the embedded store, whose only writer is this process). Any
write to it (a member removed, a meeting deleted) drops them all, so a join is answered as a
read of the store at that moment would answer it. A membership is answered from the project's
member ids, read once for every member. Over MongoDB every join reads its user's membership.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from core.errors import NotFound
from core.store.jobs import JobView
from core.store.stores import Stores
from realtime.contract import parse_room


@dataclass(frozen=True)
class RoomGrant:
    room: str
    kind: str
    room_id: str
    project_id: str
    extra: dict[str, Any]  # fields added to the join ack (a job's current state)


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Missing:
    """No answer kept."""


MISSING = Missing()


class Answers(Generic[K, V]):
    """Answers read from one collection, valid while its version is the one they were read at."""

    LIMIT = 100_000  # answers kept at most (then they start over)

    def __init__(self) -> None:
        self._version: int | None = None
        self._answers: dict[K, V] = {}

    def get(self, version: int | None, key: K) -> V | Missing:
        """The answer kept for `key`, or MISSING."""
        if version is None or version != self._version:
            return MISSING
        return self._answers.get(key, MISSING)

    def put(self, version: int | None, key: K, answer: V) -> None:
        """Keep an answer read at `version` (taken before the read)."""
        if version is None:
            return
        if version != self._version or len(self._answers) >= self.LIMIT:
            self._version, self._answers = version, {}
        self._answers[key] = answer


class RoomAuthorizer:
    """Answers a non-member exactly like a missing room, so rooms do not leak existence."""

    def __init__(self, stores: Stores) -> None:
        self._stores = stores
        self._meetings: Answers[str, str | None] = Answers()  # meeting -> its project
        self._rosters: Answers[str, frozenset[str] | None] = Answers()  # project -> members

    async def grant(self, room: str, user_id: str) -> RoomGrant:
        parsed = parse_room(room)
        if parsed is None or parsed[0] == "user":
            raise NotFound("no such room")
        kind, room_id = parsed
        project_id, extra = await self._project_of(kind, room_id)
        if project_id is None:
            raise NotFound("no such room")
        if not await self._member(project_id, user_id):
            raise NotFound("no such room")
        return RoomGrant(room, kind, room_id, project_id, extra)

    async def _member(self, project_id: str, user_id: str) -> bool:
        projects = self._stores.projects
        version = projects.version()  # before the read: a write meanwhile makes it stale
        if version is None:  # MongoDB: this user's membership alone, read every time
            return await projects.member_role(project_id, user_id) is not None
        # The embedded store: the project's members read once, for all of them (a team
        # rejoining after a restart reads its project once, not once per member).
        roster = self._rosters.get(version, project_id)
        if isinstance(roster, Missing):
            roster = await projects.member_ids(project_id)
            self._rosters.put(version, project_id, roster)
        return roster is not None and user_id in roster

    async def _meeting_project(self, meeting_id: str) -> str | None:
        meetings = self._stores.meetings
        version = meetings.version()
        project_id = self._meetings.get(version, meeting_id)
        if isinstance(project_id, Missing):
            meeting = await meetings.get(meeting_id)
            project_id = None if meeting is None else meeting.project_id
            self._meetings.put(version, meeting_id, project_id)
        return project_id

    async def _project_of(self, kind: str, room_id: str) -> tuple[str | None, dict[str, Any]]:
        if kind == "project":
            return room_id, {}
        if kind == "meeting":
            return await self._meeting_project(room_id), {}
        job = await self._stores.jobs.get(room_id)
        if job is None:
            return None, {}
        # The job as GET /api/v1/jobs/{id} shows it: never the lease or other bookkeeping.
        return job.project_id, {"state": JobView.of(job).model_dump(mode="json")}
