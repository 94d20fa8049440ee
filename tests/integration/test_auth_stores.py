"""The account repositories (refresh families, API keys, audit, users) on the embedded store,
and on a real MongoDB when MONGO_URI is set, where the in-process stand-in may differ:
concurrent compare-and-set, null matching, sort order, the TTL index."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from core.models import PageParams, Role
from core.store.audit import AuditKind
from core.store.stores import Stores
from roomcast.factory import build_services

MONGO = pytest.param("mongo", marks=[
    pytest.mark.mongo,
    pytest.mark.skipif(not os.environ.get("MONGO_URI"),
                       reason="MONGO_URI is not set: no real MongoDB to run against"),
])


@pytest.fixture(params=["embedded", MONGO])
async def stores(request: pytest.FixtureRequest, make_settings: Any) -> AsyncIterator[Stores]:
    overrides: dict[str, Any] = {"mongo_db": f"roomcast_test_{uuid4().hex[:12]}"}
    if request.param == "mongo":
        overrides["mongo_uri"] = os.environ["MONGO_URI"]
    services = build_services(make_settings(**overrides))
    await services.start()
    try:
        yield services.ctx.stores
    finally:
        if request.param == "mongo":
            await services.ctx.stores.db.drop()
        await services.close()


def _later(seconds: int = 3600) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def test_concurrent_rotations_have_one_winner(stores: Stores) -> None:
    await stores.refresh_tokens.start(family="f1", user_id="u1", jti="j0", expires_at=_later())
    results = await asyncio.gather(*(
        stores.refresh_tokens.rotate(family="f1", presented_jti="j0", next_jti=f"j{i}",
                                     expires_at=_later())
        for i in range(1, 9)
    ))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    current = await stores.refresh_tokens.get("f1")
    assert current is not None and current.current_jti == winners[0].current_jti


async def test_revoked_family_cannot_rotate(stores: Stores) -> None:
    await stores.refresh_tokens.start(family="f2", user_id="u2", jti="a", expires_at=_later())
    await stores.refresh_tokens.start(family="f3", user_id="u2", jti="b", expires_at=_later())
    assert await stores.refresh_tokens.revoke_for_user("u2", reason="test") == 2
    assert not await stores.refresh_tokens.revoke("f2", reason="again")
    assert await stores.refresh_tokens.rotate(family="f2", presented_jti="a", next_jti="c",
                                              expires_at=_later()) is None
    family = await stores.refresh_tokens.get("f2")
    assert family is not None and family.revoked and family.current_jti == "a"


async def test_refresh_families_expire_by_ttl_index(stores: Stores) -> None:
    info = await stores.refresh_tokens._c.index_information()
    ttl = [i for i in info.values() if i.get("key") == [("expires_at", 1)]]
    assert ttl and ttl[0]["expireAfterSeconds"] == 0


async def test_api_key_resolve_revoke_and_last_used(stores: Stores) -> None:
    doc, raw = await stores.api_keys.create(name="k", owner_id="o1", created_by="a1")
    assert doc.last_used_at is None and raw not in doc.key_hash
    resolved = await stores.api_keys.resolve(raw)
    assert resolved is not None and resolved.owner_id == "o1" and resolved.last_used_at
    assert (await stores.api_keys.get(doc.id)).last_used_at is not None  # type: ignore[union-attr]
    assert await stores.api_keys.resolve(raw[:-1] + "?") is None
    assert await stores.api_keys.revoke(doc.id)
    assert await stores.api_keys.resolve(raw) is None
    assert (await stores.api_keys.list(PageParams())).total == 0
    assert (await stores.api_keys.list(PageParams(), include_revoked=True)).total == 1


async def test_audit_lists_newest_first_and_filters(stores: Stores) -> None:
    for i in range(5):
        kind = AuditKind.SIGN_IN if i % 2 == 0 else AuditKind.SIGN_IN_FAILED
        await stores.audit.record(kind, actor_id=f"a{i % 2}", data={"i": i})
    page = await stores.audit.list(PageParams(limit=3))
    assert [e.data["i"] for e in page.items] == [4, 3, 2] and page.total == 5
    page = await stores.audit.list(PageParams(), kind=AuditKind.SIGN_IN_FAILED)
    assert [e.data["i"] for e in page.items] == [3, 1]
    page = await stores.audit.list(PageParams(offset=1), actor_id="a0")
    assert [e.data["i"] for e in page.items] == [2, 0]


async def test_users_filter_by_role_and_active(stores: Stores) -> None:
    admin = await stores.users.create(email="ad@example.com", name="A", password_hash=None,
                                      role=Role.ADMIN)
    member = await stores.users.create(email="me@example.com", name="M", password_hash=None)
    await stores.users.update(member.id, active=False)
    assert [u.id for u in (await stores.users.list(PageParams(), role=Role.ADMIN)).items] == [
        admin.id]
    assert [u.id for u in (await stores.users.list(PageParams(), active=False)).items] == [
        member.id]
    assert (await stores.users.list(PageParams(), role=Role.HEAD)).total == 0
