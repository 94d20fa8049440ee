"""Meetings in a project: scheduled, then live, then ended."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from pymongo import ASCENDING, ReturnDocument

from core.ids import new_id, utcnow
from core.models import Page, PageParams
from core.store.base import Repository


class MeetingStatus(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"


class Meeting(BaseModel):
    id: str = Field(default_factory=new_id)
    project_id: str
    title: str
    agenda: str = ""
    scheduled_at: datetime
    status: MeetingStatus = MeetingStatus.SCHEDULED
    started_at: datetime | None = None
    ended_at: datetime | None = None
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)


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

    async def create(
        self, *, project_id: str, title: str, agenda: str, scheduled_at: datetime,
        created_by: str,
    ) -> Meeting:
        meeting = Meeting(project_id=project_id, title=title, agenda=agenda,
                          scheduled_at=scheduled_at, created_by=created_by)
        await self._c.insert_one(self._dump(meeting))
        return meeting

    async def get(self, meeting_id: str) -> Meeting | None:
        return await self._get(_id=meeting_id)

    async def list_for_project(
        self, project_id: str, params: PageParams, status: MeetingStatus | None = None
    ) -> Page[Meeting]:
        query: dict[str, Any] = {"project_id": project_id}
        if status is not None:
            query["status"] = status.value
        return await self._page(query, params, [("scheduled_at", ASCENDING), ("_id", ASCENDING)])

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

    async def _transition(
        self, meeting_id: str, source: MeetingStatus, target: MeetingStatus, stamp: str
    ) -> Meeting | None:
        # The status in the filter makes the move atomic: of two concurrent starts, one wins.
        doc = await self._c.find_one_and_update(
            {"_id": meeting_id, "status": source.value},
            {"$set": {"status": target.value, stamp: utcnow()}},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else self._load(doc)

    async def delete_for_project(self, project_id: str) -> int:
        result = await self._c.delete_many({"project_id": project_id})
        return int(result.deleted_count)
