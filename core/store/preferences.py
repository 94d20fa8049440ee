"""What each user wants to hear about, and how: per notification kind a channel, a lead time
for meeting reminders, projects muted. A user without a record has the defaults."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from pymongo import ASCENDING

from core.ids import new_secret, utcnow
from core.store.base import Repository
from core.store.schema import SCHEMA_VERSION, VERSION_FIELD


class Channel(StrEnum):
    IN_APP = "in_app"  # stored and pushed live
    EMAIL = "email"  # in-app, and a mail at once
    DIGEST = "digest"  # in-app, and in the daily digest mail
    OFF = "off"  # neither stored nor sent


# Every kind of notification a user can choose a channel for, with its default.
KINDS: dict[str, Channel] = {
    "project.added": Channel.IN_APP,
    "project.removed": Channel.IN_APP,
    "task.assigned": Channel.IN_APP,
    "task.due": Channel.EMAIL,
    "task.overdue": Channel.EMAIL,
    "meeting.scheduled": Channel.IN_APP,
    "meeting.changed": Channel.IN_APP,
    "meeting.cancelled": Channel.IN_APP,
    "meeting.reminder": Channel.EMAIL,
    "mention": Channel.IN_APP,
    # A job's end, to its creator (workers/announce.py).
    "job.completed": Channel.IN_APP,
    "job.failed": Channel.IN_APP,
    "job.cancelled": Channel.IN_APP,
}
# About membership itself: delivered even from a muted project.
UNMUTED_KINDS = frozenset({"project.added", "project.removed"})
DEFAULT_REMINDER_MINUTES = 15


class Preferences(BaseModel):
    id: str = Field(description="the user's id")
    channels: dict[str, Channel] = Field(
        default_factory=dict, description="per kind, where it differs from the default")
    reminder_minutes: int = DEFAULT_REMINDER_MINUTES
    muted_projects: list[str] = []
    digest_kinds: list[str] = []  # derived from channels: kinds sent in the digest
    last_digest_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)

    def channel(self, kind: str, project_id: str | None = None) -> Channel:
        if project_id in self.muted_projects and kind not in UNMUTED_KINDS:
            return Channel.OFF
        return self.channels.get(kind, KINDS.get(kind, Channel.IN_APP))

    def effective(self) -> dict[str, Channel]:
        return {kind: self.channels.get(kind, default) for kind, default in KINDS.items()}


class PreferenceRepository(Repository[Preferences]):
    collection_name = "preferences"
    model = Preferences

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("digest_kinds", ASCENDING)])
        await self._c.create_index([("calendar_key", ASCENDING)], sparse=True)

    async def get(self, user_id: str) -> Preferences:
        found = await self._get(_id=user_id)
        return found if found is not None else Preferences(id=user_id)

    async def many(self, user_ids: list[str]) -> dict[str, Preferences]:
        found = {doc["_id"]: self._load(doc)
                 async for doc in self._c.find({"_id": {"$in": user_ids}})}
        return {uid: found.get(uid) or Preferences(id=uid) for uid in user_ids}

    async def update(self, user_id: str, **fields: Any) -> Preferences:
        current = await self.get(user_id)
        merged = current.model_copy(update=fields)
        merged.digest_kinds = sorted(k for k, c in merged.effective().items()
                                     if c == Channel.DIGEST)
        merged.updated_at = utcnow()
        doc = self._dump(merged)
        doc.pop("_id")
        doc.pop("last_digest_at")
        stored = await self._c.find_one_and_upsert({"_id": user_id}, {"$set": doc})
        return self._load(stored)

    async def with_digests(self, after: str, limit: int) -> list[Preferences]:
        """Users who get a digest, by id after `after` (a page of the digest run)."""
        cursor = self._c.find({"digest_kinds": {"$ne": []}, "_id": {"$gt": after}}).sort(
            [("_id", ASCENDING)]).limit(limit)
        return [self._load(doc) async for doc in cursor]

    async def claim_digest(self, user_id: str, since: datetime | None, now: datetime) -> bool:
        """Take this user's digest for the period ending `now`; False if another took it."""
        result = await self._c.update_one(
            {"_id": user_id, "last_digest_at": since}, {"$set": {"last_digest_at": now}})
        return bool(result.modified_count)

    async def calendar_key(self, user_id: str, *, rotate: bool = False) -> str:
        """The secret in the user's calendar feed URL: made on first use; `rotate` replaces
        it, so the old URL stops working."""
        if not rotate:
            doc = await self._c.find_one({"_id": user_id, "calendar_key": {"$ne": None}})
            if doc is not None:
                return str(doc["calendar_key"])
        key = new_secret(24)
        await self._c.update_one(
            {"_id": user_id},
            {"$set": {"calendar_key": key}, "$setOnInsert": {VERSION_FIELD: SCHEMA_VERSION}},
            upsert=True)
        return key

    async def by_calendar_key(self, key: str) -> str | None:
        doc = await self._c.find_one({"calendar_key": key}, {"_id": 1})
        return None if doc is None else str(doc["_id"])
