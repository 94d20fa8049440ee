"""User accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from pymongo import ASCENDING

from core.errors import Conflict, DuplicateKey
from core.ids import new_id, utcnow
from core.models import Page, PageParams, Role
from core.store.base import Repository


class User(BaseModel):
    id: str = Field(default_factory=new_id)
    email: str
    name: str
    role: Role = Role.MEMBER
    password_hash: str | None = None
    active: bool = True
    oidc_subject: str | None = None
    email_verified: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


def normalize_email(email: str) -> str:
    return email.strip().lower()


class UserRepository(Repository[User]):
    collection_name = "users"
    model = User

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("email", ASCENDING)], unique=True)
        await self._c.create_index([("name", ASCENDING)])
        await self._c.create_index([("oidc_subject", ASCENDING)], sparse=True)
        await self._c.create_index([("role", ASCENDING), ("active", ASCENDING)])

    async def create(
        self, *, email: str, name: str, password_hash: str | None, role: Role = Role.MEMBER,
        oidc_subject: str | None = None,
    ) -> User:
        user = User(email=normalize_email(email), name=name, role=role,
                    password_hash=password_hash, oidc_subject=oidc_subject)
        try:
            await self._c.insert_one(self._dump(user))
        except DuplicateKey as exc:
            raise Conflict("an account with this email exists") from exc
        return user

    async def get(self, user_id: str) -> User | None:
        return await self._get(_id=user_id)

    async def by_email(self, email: str) -> User | None:
        return await self._get(email=normalize_email(email))

    async def by_oidc_subject(self, subject: str) -> User | None:
        return await self._get(oidc_subject=subject)

    async def update(self, user_id: str, **fields: Any) -> User | None:
        fields["updated_at"] = utcnow()
        result = await self._c.find_one_and_update(
            {"_id": user_id}, {"$set": fields}, return_document=True
        )
        return None if result is None else self._load(result)

    async def delete(self, user_id: str) -> bool:
        result = await self._c.delete_one({"_id": user_id})
        return bool(result.deleted_count)

    async def list(
        self, params: PageParams, *, role: Role | None = None, active: bool | None = None
    ) -> Page[User]:
        query: dict[str, Any] = {}
        if role is not None:
            query["role"] = role.value
        if active is not None:
            query["active"] = active
        return await self._page(query, params, [("created_at", ASCENDING), ("_id", ASCENDING)])

    async def count(self) -> int:
        return int(await self._c.count_documents({}))
