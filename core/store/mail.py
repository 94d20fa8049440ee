"""Mail to send: every message is stored here before anything tries to send it, so a server
that is down or refuses delays it (retried with backoff) and never loses it. A message that
failed every attempt stays, `failed`, for an admin to see and send again.

A mail leaves at most once: its sender marks it `sending` (if its claim still holds it) just
before the message itself goes out, and nothing starts a `sending` mail again. One whose
sender died then, or lost the server without an answer, is `unconfirmed`: it may have
arrived, and only an admin sends it again."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from core.errors import DuplicateKey
from core.ids import epoch_ms, new_id, utcnow
from core.models import Page, PageParams
from core.store.base import Repository

DUE_BATCH = 200
STRANDED = "its sender stopped while handing it to the server: it may have arrived"


class MailStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    UNCONFIRMED = "unconfirmed"
    FAILED = "failed"


class OutgoingMail(BaseModel):
    id: str = Field(default_factory=new_id)
    kind: str = Field(description="what it is: password_reset, invitation, notification, ...")
    to: str
    subject: str
    text: str
    html: str
    status: MailStatus = MailStatus.QUEUED
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    last_error: str | None = None
    lease_until: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class MailRepository(Repository[OutgoingMail]):
    collection_name = "mail_outbox"
    model = OutgoingMail

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        await self._c.create_index([("status", ASCENDING), ("created_at", DESCENDING)])

    async def queue(self, mail: OutgoingMail) -> OutgoingMail:
        """Store it to be sent and return `mail` itself; a mail with this id already stored is
        left as it is and returned instead (a sender that retries, with a deterministic id,
        queues it once)."""
        try:
            await self._c.insert_one(self._dump(mail))
        except DuplicateKey:
            existing = await self.get(mail.id)
            if existing is not None:
                return existing
            raise
        return mail

    async def get(self, mail_id: str) -> OutgoingMail | None:
        return await self._get(_id=mail_id)

    async def claim(self, mail_id: str, lease_ms: int) -> OutgoingMail | None:
        now = epoch_ms()
        doc = await self._c.find_one_and_update(
            {"_id": mail_id, "status": MailStatus.QUEUED.value,
             "next_attempt_at": {"$lte": utcnow()}, "lease_until": {"$lt": now}},
            {"$set": {"lease_until": now + lease_ms}, "$inc": {"attempts": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else self._load(doc)

    async def going_out(self, mail_id: str, attempt: int, lease_ms: int) -> bool:
        """Mark the mail `sending` if the claim of this `attempt` still holds it; False when
        another sender claimed it since (its lease lapsed), which then sends it instead."""
        result = await self._c.update_one(
            {"_id": mail_id, "status": MailStatus.QUEUED.value, "attempts": attempt},
            {"$set": {"status": MailStatus.SENDING.value, "lease_until": epoch_ms() + lease_ms}})
        return bool(result.modified_count)

    async def sent(self, mail_id: str) -> None:
        await self._c.update_one({"_id": mail_id}, {"$set": {
            "status": MailStatus.SENT.value, "sent_at": utcnow(), "last_error": None}})

    async def retry_at(self, mail_id: str, error: str, delay: timedelta) -> datetime:
        when = utcnow() + delay
        await self._c.update_one({"_id": mail_id}, {"$set": {
            "status": MailStatus.QUEUED.value, "next_attempt_at": when, "last_error": error,
            "lease_until": 0}})
        return when

    async def failed(self, mail_id: str, error: str) -> None:
        await self._c.update_one({"_id": mail_id}, {"$set": {
            "status": MailStatus.FAILED.value, "last_error": error, "lease_until": 0}})

    async def unconfirmed(self, mail_id: str, error: str) -> None:
        await self._c.update_one({"_id": mail_id, "status": MailStatus.SENDING.value}, {"$set": {
            "status": MailStatus.UNCONFIRMED.value, "last_error": error, "lease_until": 0}})

    async def stranded(self) -> list[str]:
        """Mark `unconfirmed` the mail whose sender stopped while it was going out (its lease
        lapsed, `sending`); return their ids."""
        cursor = self._c.find({"status": MailStatus.SENDING.value,
                               "lease_until": {"$lt": epoch_ms()}}, {"_id": 1}).limit(DUE_BATCH)
        found = [doc["_id"] async for doc in cursor]
        for mail_id in found:
            await self.unconfirmed(mail_id, STRANDED)
        return found

    async def requeue(self, mail_id: str) -> OutgoingMail | None:
        """Send a failed (or unconfirmed) mail again, from its first attempt."""
        doc = await self._c.find_one_and_update(
            {"_id": mail_id, "status": {"$in": [MailStatus.FAILED.value,
                                                MailStatus.UNCONFIRMED.value]}},
            {"$set": {"status": MailStatus.QUEUED.value, "attempts": 0,
                      "next_attempt_at": utcnow(), "lease_until": 0}},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else self._load(doc)

    async def due(self, limit: int = DUE_BATCH) -> list[str]:
        """Queued mail whose next attempt is due and that nobody is sending: for the sweep."""
        cursor = self._c.find(
            {"status": MailStatus.QUEUED.value, "next_attempt_at": {"$lte": utcnow()},
             "lease_until": {"$lt": epoch_ms()}}, {"_id": 1},
        ).sort([("next_attempt_at", ASCENDING)]).limit(limit)
        return [doc["_id"] async for doc in cursor]

    async def page(self, params: PageParams, status: MailStatus | None) -> Page[OutgoingMail]:
        query: dict[str, Any] = {} if status is None else {"status": status.value}
        return await self._page(query, params, [("created_at", DESCENDING), ("_id", DESCENDING)])
