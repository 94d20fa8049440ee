"""Who was present in a meeting, from when to when: one record per connection's stay."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from pymongo import ASCENDING

from core.ids import new_id, utcnow
from core.store.base import GroupedInserts, Repository
from core.store.collection import Database
from core.store.schema import SCHEMA_VERSION, VERSION_FIELD

MAX_RECORDS = 10_000


class Attendance(BaseModel):
    id: str = Field(default_factory=new_id)
    meeting_id: str
    user_id: str
    sid: str
    joined_at: datetime = Field(default_factory=utcnow)
    left_at: datetime | None = None


class AttendanceRepository(Repository[Attendance]):
    collection_name = "attendance"
    model = Attendance

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        # A reconnecting crowd opens thousands of stays at once: written as one journaled
        # insert per group, not one per join, each join still waiting for its own.
        self._inserts = GroupedInserts(
            lambda docs: self._c.insert_many(docs, ordered=False), "roomcast-attendance-writer")

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("meeting_id", ASCENDING), ("joined_at", ASCENDING)])
        await self._c.create_index([("sid", ASCENDING)])

    async def open(self, meeting_id: str, user_id: str, sid: str) -> Attendance:
        """Record a stay opened now; returns once it is stored (durable)."""
        # Built from values the socket edge has checked: not validated a second time.
        record = Attendance.model_construct(id=new_id(), meeting_id=meeting_id,
                                            user_id=user_id, sid=sid, joined_at=utcnow(),
                                            left_at=None)
        await self._inserts.insert({
            "_id": record.id, "meeting_id": meeting_id, "user_id": user_id, "sid": sid,
            "joined_at": record.joined_at, "left_at": None, VERSION_FIELD: SCHEMA_VERSION})
        return record

    async def close(self, meeting_id: str, sid: str, at: datetime | None = None, *,
                    stay_id: str | None = None) -> None:
        """End the connection's open stay in the meeting: by its id when the caller kept it
        (a lookup, where a search by `sid` scans every stay in the embedded store), else
        every open stay of the connection there."""
        query = ({"_id": stay_id, "left_at": None} if stay_id is not None
                 else {"meeting_id": meeting_id, "sid": sid, "left_at": None})
        await self._c.update_many(query, {"$set": {"left_at": at or utcnow()}})

    async def close_sids(self, sids: list[str], at: datetime) -> int:
        """End the open stays of these connections in one write (a process shutting down)."""
        if not sids:
            return 0
        result = await self._c.update_many({"sid": {"$in": sids}, "left_at": None},
                                           {"$set": {"left_at": at}})
        return int(result.modified_count)

    async def close_all(self, at: datetime) -> int:
        """End every stay still open: at start-up of a process that owns the store alone, no
        connection of the one before it is still there."""
        result = await self._c.update_many({"left_at": None}, {"$set": {"left_at": at}})
        return int(result.modified_count)

    async def list_for_meeting(self, meeting_id: str) -> list[Attendance]:
        cursor = self._c.find({"meeting_id": meeting_id}).sort(
            [("joined_at", ASCENDING), ("_id", ASCENDING)]
        ).limit(MAX_RECORDS)
        return [self._load(doc) async for doc in cursor]

    async def delete_for_meeting(self, meeting_id: str) -> int:
        result = await self._c.delete_many({"meeting_id": meeting_id})
        return int(result.deleted_count)
