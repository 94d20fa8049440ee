"""Service API keys for machine clients, stored hashed.

A raw key is `rck_` followed by random characters. Only its SHA-256 digest is stored, with the
first characters as a lookup prefix; the raw key is shown once, when it is created.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING

from core.ids import new_id, utcnow
from core.models import Page, PageParams
from core.store.base import Repository

API_KEY_PREFIX = "rck_"
# "rck_" plus 8 random characters: enough to find the candidate in one index probe.
LOOKUP_PREFIX_LENGTH = 12


class ApiKeyDoc(BaseModel):
    id: str = Field(default_factory=new_id)
    name: str
    owner_id: str
    created_by: str
    prefix: str
    key_hash: str
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def generate_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


class ApiKeyRepository(Repository[ApiKeyDoc]):
    collection_name = "api_keys"
    model = ApiKeyDoc

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("prefix", ASCENDING)])
        await self._c.create_index([("owner_id", ASCENDING)])

    async def create(self, *, name: str, owner_id: str, created_by: str) -> tuple[ApiKeyDoc, str]:
        """Store a new key; return it with the raw key, which is not kept anywhere."""
        raw = generate_key()
        doc = ApiKeyDoc(name=name, owner_id=owner_id, created_by=created_by,
                        prefix=raw[:LOOKUP_PREFIX_LENGTH], key_hash=hash_key(raw))
        await self._c.insert_one(self._dump(doc))
        return doc, raw

    async def resolve(self, raw_key: str) -> ApiKeyDoc | None:
        """The live key matching `raw_key`, or None; records when it was last used."""
        if not raw_key.startswith(API_KEY_PREFIX) or len(raw_key) <= LOOKUP_PREFIX_LENGTH:
            return None
        digest = hash_key(raw_key)
        query = {"prefix": raw_key[:LOOKUP_PREFIX_LENGTH], "revoked_at": None}
        async for doc in self._c.find(query):
            if hmac.compare_digest(str(doc["key_hash"]), digest):
                now = utcnow()
                await self._c.update_one({"_id": doc["_id"]}, {"$set": {"last_used_at": now}})
                doc["last_used_at"] = now
                return self._load(doc)
        return None

    async def get(self, key_id: str) -> ApiKeyDoc | None:
        return await self._get(_id=key_id)

    async def revoke(self, key_id: str) -> bool:
        result = await self._c.update_one(
            {"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": utcnow()}}
        )
        return bool(result.modified_count)

    async def revoke_for_owner(self, owner_id: str) -> int:
        result = await self._c.update_many(
            {"owner_id": owner_id, "revoked_at": None}, {"$set": {"revoked_at": utcnow()}}
        )
        return int(result.modified_count)

    async def list(self, params: PageParams, *, include_revoked: bool = False) -> Page[ApiKeyDoc]:
        query = {} if include_revoked else {"revoked_at": None}
        return await self._page(query, params, [("created_at", DESCENDING), ("_id", ASCENDING)])
