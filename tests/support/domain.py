"""Helpers for the REST domain tests: users with tokens, and an emitter that records calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import uuid4

import httpx

from core.models import Role
from core.settings import Settings
from core.store.users import User
from realtime.emitter import Emitter
from roomcast.factory import Services, build_services


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Services]:
    """Services built and started on `settings`, as one `roomcast serve` process has them."""
    services = build_services(settings)
    await services.start()
    try:
        yield services
    finally:
        await services.close()


@dataclass
class Caller:
    user: User
    headers: dict[str, str]

    @property
    def id(self) -> str:
        return self.user.id


async def make_user(
    services: Services, name: str = "", role: Role = Role.MEMBER, email: str = ""
) -> Caller:
    tag = uuid4().hex[:8]
    user = await services.ctx.stores.users.create(
        email=email or f"{name or 'user'}-{tag}@example.com", name=name or f"User {tag}",
        password_hash=None, role=role,
    )
    token = services.ctx.tokens.issue(sub=user.id, role=user.role, typ="access").token
    return Caller(user, {"Authorization": f"Bearer {token}"})


@dataclass
class RecordingEmitter:
    """Passes every call on to the real emitter and keeps a record of it."""

    inner: Emitter
    calls: list[tuple[str, Any]] = field(default_factory=list)

    async def emit(self, room: str, event: str, data: dict[str, Any]) -> int:
        self.calls.append(("emit", (room, event, data)))
        return await self.inner.emit(room, event, data)

    async def notify(
        self, user_id: str, *, kind: str, title: str, body: str = "",
        data: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        self.calls.append(("notify", (user_id, kind, data)))
        return await self.inner.notify(user_id, kind=kind, title=title, body=body, data=data)

    async def membership_revoked(self, user_id: str, project_id: str) -> None:
        self.calls.append(("revoked", (user_id, project_id)))
        await self.inner.membership_revoked(user_id, project_id)

    async def user_ended(self, user_id: str, code: str) -> None:
        self.calls.append(("ended", (user_id, code)))
        await self.inner.user_ended(user_id, code)

    def of(self, kind: str) -> list[Any]:
        return [args for name, args in self.calls if name == kind]


def record_events(services: Services) -> RecordingEmitter:
    recorder = RecordingEmitter(services.ctx.emitter)
    services.ctx.emitter = recorder
    return recorder


async def create_project(client: httpx.AsyncClient, head: Caller, name: str = "Apollo") -> str:
    response = await client.post("/api/v1/projects", json={"name": name}, headers=head.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def add_member(
    client: httpx.AsyncClient, project_id: str, head: Caller, user: Caller, role: str = "member"
) -> None:
    response = await client.post(
        f"/api/v1/projects/{project_id}/members", json={"user_id": user.id, "role": role},
        headers=head.headers,
    )
    assert response.status_code == 201, response.text


def oldest_first(item: dict[str, Any]) -> tuple[datetime, str]:
    """The order lists keep: creation time, then id. Compared as times, since the JSON leaves
    out a zero fraction of a second ("...:14Z" would sort after "...:14.005000Z" as text)."""
    return datetime.fromisoformat(str(item["created_at"])), str(item["id"])


async def check_same_millisecond_order(messages: Any) -> None:
    """Messages stored in one millisecond page back in the order they were sent (their room
    offset), whatever their ids: ids here sort the other way round."""
    from core.models import PageParams
    from core.store.messages import NewMessage

    meeting = uuid4().hex
    now = datetime.now().astimezone().replace(microsecond=123000)
    sent = []
    for n in range(6):
        message = NewMessage(meeting_id=meeting, project_id="p" * 32, user_id="u" * 32,
                             user_name="Ada", text=f"m{n}", client_id=None)
        message.id = f"{9 - n:032x}"  # later messages get smaller ids
        message.offset, message.created_at = n + 1, now
        sent.append(message)
    for message in sent:
        await messages.create(message)
    whole = await messages.list_for_meeting(meeting, PageParams(limit=10, offset=0))
    assert [m.text for m in whole.items] == [f"m{n}" for n in range(6)]
    page = await messages.list_for_meeting(meeting, PageParams(limit=3, offset=2))
    assert [m.text for m in page.items] == ["m2", "m3", "m4"]
