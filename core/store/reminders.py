"""Reminders owed: one record per meeting and lead time, or per task and day, with the time
it is due. The record is the truth; Taskiq's scheduler only says when to look at it.

A reminder fires exactly once, however many workers and schedulers run: a worker sends it
only after claiming it (a lease, so another takes over if that worker dies), strikes off each
recipient once delivered, and marks it sent at the end. Moving or cancelling it bumps its
`version`, so a schedule made for an older version finds nothing to do.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from pymongo import ASCENDING, ReturnDocument

from core.ids import epoch_ms, utcnow
from core.store.base import Repository
from core.store.schema import SCHEMA_VERSION, VERSION_FIELD

# Lead times a member may choose for meeting reminders (minutes before the start). Each meeting
# gets one reminder per lead time; who receives it is read when it fires, so a member who
# changes their lead time is reminded at the new one without rescheduling anything.
MEETING_LEADS = (5, 10, 15, 30, 60, 1440)
DUE_BATCH = 500


class ReminderKind(StrEnum):
    MEETING = "meeting.reminder"
    TASK_DUE = "task.due"
    TASK_OVERDUE = "task.overdue"


class ReminderState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    CANCELLED = "cancelled"


class Reminder(BaseModel):
    id: str
    kind: ReminderKind
    subject_id: str = Field(description="the meeting or task it is about")
    project_id: str
    lead_minutes: int = 0
    due_at: datetime
    version: int = 1
    state: ReminderState = ReminderState.PENDING
    lease_until: int = 0  # epoch ms; a claim holds it until then
    owner: str | None = None
    delivered: list[str] = []  # user ids already reminded
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def schedule_id(self) -> str:
        return f"{self.id}.v{self.version}"


def reminder_id(kind: ReminderKind, subject_id: str, lead_minutes: int = 0) -> str:
    return f"{kind.value}:{subject_id}:{lead_minutes}"


class ReminderRepository(Repository[Reminder]):
    collection_name = "reminders"
    model = Reminder

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("state", ASCENDING), ("due_at", ASCENDING)])
        await self._c.create_index([("subject_id", ASCENDING)])

    async def get(self, rid: str) -> Reminder | None:
        return await self._get(_id=rid)

    async def plan(self, kind: ReminderKind, subject_id: str, project_id: str, due_at: datetime,
                   lead_minutes: int = 0) -> Reminder:
        """Owe this reminder at `due_at` (a new version of it, pending again)."""
        doc = await self._c.find_one_and_upsert(
            {"_id": reminder_id(kind, subject_id, lead_minutes)},
            {"$set": {"kind": kind.value, "subject_id": subject_id, "project_id": project_id,
                      "lead_minutes": lead_minutes, "due_at": due_at,
                      "state": ReminderState.PENDING.value, "lease_until": 0, "owner": None,
                      "delivered": [], "updated_at": utcnow(), VERSION_FIELD: SCHEMA_VERSION},
             "$inc": {"version": 1}},
        )
        return self._load(doc)

    async def for_subject(self, subject_id: str) -> list[Reminder]:
        cursor = self._c.find({"subject_id": subject_id})
        return [self._load(doc) async for doc in cursor]

    async def cancel(self, rid: str) -> Reminder | None:
        """Owe it no longer; the returned record names the schedule that is now void."""
        doc = await self._c.find_one_and_update(
            {"_id": rid, "state": ReminderState.PENDING.value},
            {"$set": {"state": ReminderState.CANCELLED.value, "updated_at": utcnow()}},
            return_document=ReturnDocument.BEFORE,
        )
        return None if doc is None else self._load(doc)

    async def claim(self, rid: str, owner: str, lease_ms: int,
                    version: int | None = None) -> Reminder | None:
        """Take a due, pending reminder that nobody holds (or whose holder's lease lapsed)."""
        now = epoch_ms()
        query: dict[str, Any] = {"_id": rid, "state": ReminderState.PENDING.value,
                                 "due_at": {"$lte": utcnow()}, "lease_until": {"$lt": now}}
        if version is not None:
            query["version"] = version
        doc = await self._c.find_one_and_update(
            query, {"$set": {"lease_until": now + lease_ms, "owner": owner}},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else self._load(doc)

    async def delivered_to(self, rid: str, version: int, user_id: str) -> None:
        await self._c.update_one({"_id": rid, "version": version},
                                 {"$addToSet": {"delivered": user_id}})

    async def finish(self, rid: str, version: int, owner: str) -> bool:
        result = await self._c.update_one(
            {"_id": rid, "version": version, "owner": owner,
             "state": ReminderState.PENDING.value},
            {"$set": {"state": ReminderState.SENT.value, "updated_at": utcnow()}},
        )
        return bool(result.modified_count)

    async def due(self, limit: int = DUE_BATCH) -> list[Reminder]:
        """Pending reminders past their time that nobody holds: for the sweep."""
        cursor = self._c.find(
            {"state": ReminderState.PENDING.value, "due_at": {"$lte": utcnow()},
             "lease_until": {"$lt": epoch_ms()}}
        ).sort([("due_at", ASCENDING)]).limit(limit)
        return [self._load(doc) async for doc in cursor]
