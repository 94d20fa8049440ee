"""Notifications for a user, expiring after a while (a TTL index removes them)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from core.errors import DuplicateKey
from core.ids import new_id, utcnow
from core.models import Page, PageParams
from core.store.base import Repository

DEFAULT_TTL = timedelta(days=30)


class Notification(BaseModel):
    id: str = Field(default_factory=new_id)
    user_id: str
    kind: str
    title: str
    body: str = ""
    data: dict[str, Any] = {}
    read: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class NotificationRepository(Repository[Notification]):
    collection_name = "notifications"
    model = Notification

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
        await self._c.create_index(
            [("user_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]
        )
        await self._c.create_index([("user_id", ASCENDING), ("read", ASCENDING)])

    async def create(
        self, user_id: str, kind: str, title: str, body: str = "",
        data: dict[str, Any] | None = None, *, ttl: timedelta = DEFAULT_TTL,
    ) -> Notification:
        """Store an unread notification; MongoDB drops it once `ttl` has passed."""
        return await self.create_once(new_id(), user_id, kind, title, body, data, ttl=ttl)

    async def create_once(
        self, notification_id: str, user_id: str, kind: str, title: str, body: str = "",
        data: dict[str, Any] | None = None, *, ttl: timedelta = DEFAULT_TTL,
    ) -> Notification:
        """Store the notification with this id unless it exists; return the stored one.

        For a sender that may retry (a worker announcing a job's end): a second call is
        answered with the first one's notification instead of a duplicate.
        """
        stored, _ = await self.store_once(notification_id, user_id, kind, title, body, data,
                                          ttl=ttl)
        return stored

    async def store_once(
        self, notification_id: str, user_id: str, kind: str, title: str, body: str = "",
        data: dict[str, Any] | None = None, *, ttl: timedelta = DEFAULT_TTL,
    ) -> tuple[Notification, bool]:
        """As `create_once`, and whether this call is the one that stored it: a sender that
        pushes only then pushes it once, however often it is retried."""
        now = utcnow()
        notification = Notification(
            id=notification_id, user_id=user_id, kind=kind, title=title, body=body,
            data=data or {}, created_at=now, expires_at=now + ttl,
        )
        try:
            await self._c.insert_one(self._dump(notification))
        except DuplicateKey:
            existing = await self.get(notification_id)
            if existing is not None:
                return existing, False
            raise
        return notification, True

    async def withdraw(self, notification_id: str) -> None:
        """Remove a notification just stored whose push failed, so a retry stores it anew."""
        await self._c.delete_one({"_id": notification_id})

    async def get(self, notification_id: str) -> Notification | None:
        return await self._get(_id=notification_id)

    async def list_for_user(
        self, user_id: str, params: PageParams, *, unread_only: bool = False
    ) -> Page[Notification]:
        query: dict[str, Any] = {"user_id": user_id}
        if unread_only:
            query["read"] = False
        return await self._page(query, params, [("created_at", DESCENDING), ("_id", DESCENDING)])

    async def unread_count(self, user_id: str) -> int:
        return int(await self._c.count_documents({"user_id": user_id, "read": False}))

    async def mark_read(self, user_id: str, notification_id: str) -> Notification | None:
        """Mark one of the user's notifications read; None if it is not theirs (or gone)."""
        doc = await self._c.find_one_and_update(
            {"_id": notification_id, "user_id": user_id},
            {"$set": {"read": True}},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else self._load(doc)

    async def mark_all_read(self, user_id: str) -> int:
        result = await self._c.update_many(
            {"user_id": user_id, "read": False}, {"$set": {"read": True}}
        )
        return int(result.modified_count)
