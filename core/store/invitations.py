"""Invitations to a project by email, for people with or without an account. The mail carries
a token (only its hash is stored); accepting it signed in as that address makes a member."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from pymongo import ASCENDING, ReturnDocument

from core.errors import InvalidLink, LinkExpired, LinkRevoked, LinkUsed
from core.ids import new_id, new_secret, utcnow
from core.models import Page, PageParams, ProjectRole
from core.store.base import Repository
from core.store.links import MAX_TOKEN_LENGTH, token_hash


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"
    EXPIRED = "expired"  # never stored: a pending invitation past its expiry reads as this


class Invitation(BaseModel):
    id: str = Field(default_factory=new_id)
    project_id: str
    email: str
    role: ProjectRole = ProjectRole.MEMBER
    status: InvitationStatus = InvitationStatus.PENDING
    invited_by: str
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    accepted_by: str | None = None
    accepted_at: datetime | None = None
    revoked_at: datetime | None = None

    def current(self, now: datetime) -> Invitation:
        if self.status == InvitationStatus.PENDING and self.expires_at <= now:
            return self.model_copy(update={"status": InvitationStatus.EXPIRED})
        return self


class InvitationRepository(Repository[Invitation]):
    collection_name = "invitations"
    model = Invitation

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("project_id", ASCENDING), ("created_at", ASCENDING)])
        await self._c.create_index([("token", ASCENDING)], unique=True)
        await self._c.create_index([("project_id", ASCENDING), ("email", ASCENDING),
                                    ("status", ASCENDING)])

    def _load(self, doc: dict[str, Any]) -> Invitation:
        doc = dict(doc)
        doc.pop("token", None)
        return super()._load(doc).current(utcnow())

    async def create(self, *, project_id: str, email: str, role: ProjectRole, invited_by: str,
                     ttl: timedelta) -> tuple[Invitation, str]:
        token = new_secret()
        now = utcnow()
        invitation = Invitation(project_id=project_id, email=email, role=role,
                                invited_by=invited_by, created_at=now, expires_at=now + ttl)
        await self._c.insert_one({**self._dump(invitation), "token": token_hash(token)})
        return invitation, token

    async def get(self, invitation_id: str) -> Invitation | None:
        return await self._get(_id=invitation_id)

    async def pending_for(self, project_id: str, email: str) -> Invitation | None:
        doc = await self._c.find_one({"project_id": project_id, "email": email,
                                      "status": InvitationStatus.PENDING.value,
                                      "expires_at": {"$gt": utcnow()}})
        return None if doc is None else self._load(doc)

    async def page(self, project_id: str, params: PageParams) -> Page[Invitation]:
        return await self._page({"project_id": project_id}, params,
                                [("created_at", ASCENDING), ("_id", ASCENDING)])

    async def by_token(self, token: str) -> Invitation:
        """The invitation the token belongs to, whatever its state; InvalidLink if none."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidLink()
        found = await self._get(token=token_hash(token))
        if found is None:
            raise InvalidLink()
        return found

    async def accept(self, token: str, user_id: str) -> Invitation:
        """Spend the invitation for this user: LinkExpired, LinkUsed or LinkRevoked if it is
        no longer pending."""
        invitation = await self.by_token(token)
        now = utcnow()
        doc = await self._c.find_one_and_update(
            {"_id": invitation.id, "status": InvitationStatus.PENDING.value,
             "expires_at": {"$gt": now}},
            {"$set": {"status": InvitationStatus.ACCEPTED.value, "accepted_by": user_id,
                      "accepted_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is not None:
            return self._load(doc)
        raise dead_link(await self.by_token(token))

    async def revoke(self, invitation_id: str) -> Invitation | None:
        doc = await self._c.find_one_and_update(
            {"_id": invitation_id, "status": InvitationStatus.PENDING.value},
            {"$set": {"status": InvitationStatus.REVOKED.value, "revoked_at": utcnow()}},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else self._load(doc)

    async def delete_for_project(self, project_id: str) -> int:
        result = await self._c.delete_many({"project_id": project_id})
        return int(result.deleted_count)


def dead_link(invitation: Invitation) -> Exception:
    """Why a no-longer-pending invitation's link does not work."""
    return {InvitationStatus.ACCEPTED: LinkUsed(), InvitationStatus.REVOKED: LinkRevoked()}.get(
        invitation.status, LinkExpired())
