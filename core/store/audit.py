"""The audit log: sign-ins, failed sign-ins, role changes, deactivations, deletions."""

from __future__ import annotations

import time
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from pymongo import DESCENDING

from core.ids import new_id, utcnow
from core.models import Page, PageParams
from core.store.base import Repository


class AuditKind(StrEnum):
    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_OUT = "sign_out"
    REGISTERED = "registered"
    REFRESH_REUSED = "refresh_reused"
    PASSWORD_CHANGED = "password_changed"
    ROLE_CHANGED = "role_changed"
    DEACTIVATED = "deactivated"
    REACTIVATED = "reactivated"
    ACCOUNT_DELETED = "account_deleted"
    API_KEY_CREATED = "api_key_created"
    API_KEY_REVOKED = "api_key_revoked"


class AuditEvent(BaseModel):
    id: str = Field(default_factory=new_id)
    kind: AuditKind
    actor_id: str | None = None  # who did it (None: an anonymous caller)
    subject_id: str | None = None  # whose account it concerns
    ip: str | None = None
    data: dict[str, Any] = {}
    at: datetime = Field(default_factory=utcnow)
    # Nanoseconds, made strictly increasing within a process: events written in the same
    # millisecond still list in the order they happened.
    seq: int = 0


class AuditRepository(Repository[AuditEvent]):
    collection_name = "audit_events"
    model = AuditEvent

    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self._last_seq = 0

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("seq", DESCENDING)])
        await self._c.create_index([("kind", DESCENDING), ("seq", DESCENDING)])
        await self._c.create_index([("actor_id", DESCENDING), ("seq", DESCENDING)])

    async def record(
        self, kind: AuditKind, *, actor_id: str | None = None, subject_id: str | None = None,
        ip: str | None = None, data: dict[str, Any] | None = None,
    ) -> AuditEvent:
        self._last_seq = max(time.time_ns(), self._last_seq + 1)
        event = AuditEvent(kind=kind, actor_id=actor_id, subject_id=subject_id, ip=ip,
                           data=data or {}, seq=self._last_seq)
        await self._c.insert_one(self._dump(event))
        return event

    async def list(
        self, params: PageParams, *, kind: AuditKind | None = None, actor_id: str | None = None,
        subject_id: str | None = None,
    ) -> Page[AuditEvent]:
        """Newest first."""
        query: dict[str, Any] = {}
        if kind is not None:
            query["kind"] = kind.value
        if actor_id is not None:
            query["actor_id"] = actor_id
        if subject_id is not None:
            query["subject_id"] = subject_id
        return await self._page(query, params, [("seq", DESCENDING)])
