"""Dynamic schedules kept in the document store: Taskiq's scheduler reads them through
workers/schedule/store_source.py where Redis is not configured (the embedded default). They
last as long as the store does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from core.store.collection import Database
from core.store.schema import SCHEMA_VERSION, VERSION_FIELD


class ScheduleRepository:
    collection_name = "schedules"

    def __init__(self, db: Database) -> None:
        self._c = db[self.collection_name]

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("time", ASCENDING)])

    async def put(self, schedule_id: str, time: datetime | None, task: dict[str, Any]) -> None:
        await self._c.replace_one(
            {"_id": schedule_id}, {"time": time, "task": task, VERSION_FIELD: SCHEMA_VERSION},
            upsert=True)

    async def delete(self, schedule_id: str) -> None:
        await self._c.delete_one({"_id": schedule_id})

    async def due_by(self, until: datetime, limit: int) -> list[dict[str, Any]]:
        """Time schedules due by `until` (earliest first) and every schedule without a time."""
        cursor = self._c.find({"$or": [{"time": None}, {"time": {"$lte": until}}]}).sort(
            [("time", ASCENDING)]).limit(limit)
        return [doc["task"] async for doc in cursor]
