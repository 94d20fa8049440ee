"""Recurring meetings: the rule a series was made from, for the calendar feed and the series
routes. Its occurrences are meetings (core/store/meetings.py) carrying its id."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from pymongo import ASCENDING

from core.ids import new_id, utcnow
from core.store.base import Repository


class MeetingSeries(BaseModel):
    id: str = Field(default_factory=new_id)
    project_id: str
    title: str
    agenda: str = ""
    rule: str = Field(description="the RFC 5545 RRULE value, as given")
    timezone: str = Field(description="the IANA timezone the rule is read in")
    starts_at: datetime = Field(description="the first occurrence's start (the rule's DTSTART)")
    duration_minutes: int
    occurrences: int
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)


class SeriesRepository(Repository[MeetingSeries]):
    collection_name = "meeting_series"
    model = MeetingSeries

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("project_id", ASCENDING)])

    async def create(self, series: MeetingSeries) -> MeetingSeries:
        await self._c.insert_one(self._dump(series))
        return series

    async def get(self, series_id: str) -> MeetingSeries | None:
        return await self._get(_id=series_id)

    async def many(self, series_ids: list[str]) -> dict[str, MeetingSeries]:
        cursor = self._c.find({"_id": {"$in": series_ids}})
        return {doc["_id"]: self._load(doc) async for doc in cursor}

    async def delete(self, series_id: str) -> bool:
        result = await self._c.delete_one({"_id": series_id})
        return bool(result.deleted_count)

    async def delete_for_project(self, project_id: str) -> int:
        result = await self._c.delete_many({"project_id": project_id})
        return int(result.deleted_count)
