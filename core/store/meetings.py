"""Meetings in a project: scheduled, then live, then ended; or cancelled before they start.

A recurring meeting is a series (core/store/series.py) whose occurrences are meetings of their
own, each with `series_id` and `occurrence_at` (the start the rule gave it), so one occurrence
can be moved, changed or cancelled like any meeting.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from pymongo import ASCENDING, ReturnDocument

from core.ids import new_id, utcnow
from core.models import Page, PageParams
from core.store.base import Repository

DEFAULT_DURATION_MINUTES = 60
FEED_LIMIT = 2000  # meetings in one calendar feed


class MeetingStatus(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


class Meeting(BaseModel):
    id: str = Field(default_factory=new_id)
    project_id: str
    title: str
    agenda: str = ""
    scheduled_at: datetime
    duration_minutes: int = DEFAULT_DURATION_MINUTES
    status: MeetingStatus = MeetingStatus.SCHEDULED
    started_at: datetime | None = None
    ended_at: datetime | None = None
    cancelled_at: datetime | None = None
    series_id: str | None = Field(default=None, description="the series it is an occurrence of")
    occurrence_at: datetime | None = Field(
        default=None, description="the start its series' rule gave it (it may have moved since)")
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime | None = None


class MeetingRepository(Repository[Meeting]):
    collection_name = "meetings"
    model = Meeting

    async def ensure_indexes(self) -> None:
        await self._c.create_index(
            [("project_id", ASCENDING), ("scheduled_at", ASCENDING), ("_id", ASCENDING)]
        )
        await self._c.create_index(
            [("project_id", ASCENDING), ("status", ASCENDING), ("scheduled_at", ASCENDING)]
        )
        await self._c.create_index([("series_id", ASCENDING), ("scheduled_at", ASCENDING)],
                                   sparse=True)

    async def create(
        self, *, project_id: str, title: str, agenda: str, scheduled_at: datetime,
        created_by: str, duration_minutes: int = DEFAULT_DURATION_MINUTES,
    ) -> Meeting:
        meeting = Meeting(project_id=project_id, title=title, agenda=agenda,
                          scheduled_at=scheduled_at, created_by=created_by,
                          duration_minutes=duration_minutes)
        await self._c.insert_one(self._dump(meeting))
        return meeting

    async def insert_many(self, meetings: Sequence[Meeting]) -> None:
        if meetings:
            await self._c.insert_many([self._dump(m) for m in meetings])

    async def get(self, meeting_id: str) -> Meeting | None:
        return await self._get(_id=meeting_id)

    async def list_for_project(
        self, project_id: str, params: PageParams, status: MeetingStatus | None = None,
        series_id: str | None = None,
    ) -> Page[Meeting]:
        query: dict[str, Any] = {"project_id": project_id}
        if status is not None:
            query["status"] = status.value
        if series_id is not None:
            query["series_id"] = series_id
        return await self._page(query, params, [("scheduled_at", ASCENDING), ("_id", ASCENDING)])

    async def list_for_projects(self, project_ids: list[str], since: datetime) -> list[Meeting]:
        """Meetings of these projects starting from `since`, oldest first (a calendar feed)."""
        cursor = self._c.find(
            {"project_id": {"$in": project_ids}, "scheduled_at": {"$gte": since}}
        ).sort([("scheduled_at", ASCENDING), ("_id", ASCENDING)]).limit(FEED_LIMIT)
        return [self._load(doc) async for doc in cursor]

    async def list_in_range(
        self, project_id: str, start: datetime, end: datetime
    ) -> list[Meeting]:
        cursor = self._c.find(
            {"project_id": project_id, "scheduled_at": {"$gte": start, "$lt": end}}
        ).sort([("scheduled_at", ASCENDING), ("_id", ASCENDING)]).limit(FEED_LIMIT)
        return [self._load(doc) async for doc in cursor]

    async def in_series(self, series_id: str, statuses: Sequence[MeetingStatus] = ()
                        ) -> list[Meeting]:
        query: dict[str, Any] = {"series_id": series_id}
        if statuses:
            query["status"] = {"$in": [s.value for s in statuses]}
        cursor = self._c.find(query).sort([("scheduled_at", ASCENDING), ("_id", ASCENDING)])
        return [self._load(doc) async for doc in cursor]

    async def update(
        self, meeting_id: str, allowed: Sequence[MeetingStatus], **fields: Any
    ) -> Meeting | None:
        """Change a meeting that is in one of the `allowed` statuses; None otherwise (or if it
        is missing). The status in the filter makes the check and the change one step."""
        fields["updated_at"] = utcnow()
        doc = await self._c.find_one_and_update(
            {"_id": meeting_id, "status": {"$in": [s.value for s in allowed]}},
            {"$set": fields}, return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else self._load(doc)

    async def start(self, meeting_id: str) -> Meeting | None:
        """Move a scheduled meeting to live; None if it is not scheduled (or missing)."""
        return await self._transition(
            meeting_id, MeetingStatus.SCHEDULED, MeetingStatus.LIVE, "started_at"
        )

    async def end(self, meeting_id: str) -> Meeting | None:
        """Move a live meeting to ended; None if it is not live (or missing)."""
        return await self._transition(
            meeting_id, MeetingStatus.LIVE, MeetingStatus.ENDED, "ended_at"
        )

    async def cancel(self, meeting_id: str) -> Meeting | None:
        """Cancel a scheduled meeting; None if it is not scheduled (or missing)."""
        return await self._transition(
            meeting_id, MeetingStatus.SCHEDULED, MeetingStatus.CANCELLED, "cancelled_at"
        )

    async def _transition(
        self, meeting_id: str, source: MeetingStatus, target: MeetingStatus, stamp: str
    ) -> Meeting | None:
        # The status in the filter makes the move atomic: of two concurrent starts, one wins.
        now = utcnow()
        doc = await self._c.find_one_and_update(
            {"_id": meeting_id, "status": source.value},
            {"$set": {"status": target.value, stamp: now, "updated_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else self._load(doc)

    async def delete(self, meeting_id: str, allowed: Sequence[MeetingStatus]) -> bool:
        result = await self._c.delete_one(
            {"_id": meeting_id, "status": {"$in": [s.value for s in allowed]}}
        )
        return bool(result.deleted_count)

    async def delete_for_project(self, project_id: str) -> int:
        result = await self._c.delete_many({"project_id": project_id})
        return int(result.deleted_count)
