"""Single-use links sent by mail: password reset and email verification. Only a hash of the
token is stored, so the collection cannot be read for working links."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field
from pymongo import ASCENDING, ReturnDocument

from core.errors import InvalidLink, LinkExpired, LinkUsed
from core.ids import new_secret, utcnow
from core.store.base import Repository

MAX_TOKEN_LENGTH = 200


class LinkPurpose(StrEnum):
    RESET = "password_reset"
    VERIFY = "email_verification"


class Link(BaseModel):
    id: str = Field(description="sha256 of the token")
    purpose: LinkPurpose
    user_id: str
    email: str
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LinkRepository(Repository[Link]):
    collection_name = "links"
    model = Link

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("user_id", ASCENDING), ("purpose", ASCENDING),
                                    ("created_at", ASCENDING)])
        # Dead links are kept a day past their expiry (to answer link_expired), then dropped.
        await self._c.create_index([("expires_at", ASCENDING)], expireAfterSeconds=86_400)

    async def issue(self, purpose: LinkPurpose, user_id: str, email: str,
                    ttl: timedelta) -> str:
        """A new link's token (shown once, in the mail)."""
        token = new_secret()
        now = utcnow()
        link = Link(id=token_hash(token), purpose=purpose, user_id=user_id, email=email,
                    created_at=now, expires_at=now + ttl)
        await self._c.insert_one(self._dump(link))
        return token

    async def issued_since(self, purpose: LinkPurpose, user_id: str, since: datetime) -> bool:
        found = await self._c.find_one({"user_id": user_id, "purpose": purpose.value,
                                        "created_at": {"$gte": since}, "used_at": None})
        return found is not None

    async def use(self, purpose: LinkPurpose, token: str) -> Link:
        """Spend the link once: InvalidLink, LinkExpired or LinkUsed otherwise."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidLink()
        key, now = token_hash(token), utcnow()
        doc = await self._c.find_one_and_update(
            {"_id": key, "purpose": purpose.value, "used_at": None, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now}}, return_document=ReturnDocument.AFTER,
        )
        if doc is not None:
            return self._load(doc)
        found = await self._get(_id=key, purpose=purpose.value)
        if found is None:
            raise InvalidLink()
        if found.used_at is not None:
            raise LinkUsed()
        raise LinkExpired()

    async def void_for_user(self, purpose: LinkPurpose, user_id: str) -> None:
        """Spend every open link of this kind (a reset used: older reset mails stop working)."""
        await self._c.update_many({"user_id": user_id, "purpose": purpose.value,
                                   "used_at": None}, {"$set": {"used_at": utcnow()}})
