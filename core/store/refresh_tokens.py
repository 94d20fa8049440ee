"""Refresh-token families, for rotation and reuse detection.

A family starts at sign-in and holds the one refresh-token jti that may be used next. Each
refresh swaps that jti atomically; presenting any other jti of the family means a token was
copied, so the whole family is revoked.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from pymongo import ASCENDING, ReturnDocument

from core.ids import utcnow
from core.store.base import Repository


class RefreshFamily(BaseModel):
    id: str  # the family id, carried in the token's `fam` claim
    user_id: str
    current_jti: str
    revoked: bool = False
    revoked_reason: str | None = None
    expires_at: datetime
    created_at: datetime = Field(default_factory=utcnow)
    rotated_at: datetime | None = None


class RefreshTokenRepository(Repository[RefreshFamily]):
    collection_name = "refresh_tokens"
    model = RefreshFamily

    async def ensure_indexes(self) -> None:
        # A family disappears on its own once its last refresh token has expired.
        await self._c.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
        await self._c.create_index([("user_id", ASCENDING)])

    async def start(
        self, *, family: str, user_id: str, jti: str, expires_at: datetime
    ) -> RefreshFamily:
        doc = RefreshFamily(id=family, user_id=user_id, current_jti=jti, expires_at=expires_at)
        await self._c.insert_one(self._dump(doc))
        return doc

    async def get(self, family: str) -> RefreshFamily | None:
        return await self._get(_id=family)

    async def rotate(
        self, *, family: str, presented_jti: str, next_jti: str, expires_at: datetime
    ) -> RefreshFamily | None:
        """Swap the family's current jti if `presented_jti` is it; None if it is not (or the
        family is revoked or gone). One atomic update, so of two concurrent refreshes with
        the same token exactly one wins."""
        doc = await self._c.find_one_and_update(
            {"_id": family, "current_jti": presented_jti, "revoked": False},
            {"$set": {"current_jti": next_jti, "expires_at": expires_at,
                      "rotated_at": utcnow()}},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else self._load(doc)

    async def revoke(self, family: str, *, reason: str) -> bool:
        result = await self._c.update_one(
            {"_id": family, "revoked": False},
            {"$set": {"revoked": True, "revoked_reason": reason}},
        )
        return bool(result.modified_count)

    async def revoke_for_user(self, user_id: str, *, reason: str) -> int:
        result = await self._c.update_many(
            {"user_id": user_id, "revoked": False},
            {"$set": {"revoked": True, "revoked_reason": reason}},
        )
        return int(result.modified_count)
