"""Deleting an account ends its memberships and never leaves a project without a head."""

from __future__ import annotations

import httpx

from core.models import ProjectRole
from roomcast.factory import Services
from tests.support.domain import make_user


async def test_deleting_an_account_leaves_its_projects_cleanly(
    client: httpx.AsyncClient, services: Services
) -> None:
    stores = services.ctx.stores
    leaving = await make_user(services, "leaving")
    head = await make_user(services, "head")
    alone = await stores.projects.create(name="alone", owner_id=leaving.id)
    shared = await stores.projects.create(name="shared", owner_id=head.id)
    await stores.projects.add_member(shared.id, leaving.id)

    r = await client.delete("/api/v1/users/me", headers=leaving.headers)

    assert r.status_code == 204
    assert await stores.projects.get(alone.id) is None
    assert await stores.projects.member_role(shared.id, leaving.id) is None
    assert await stores.projects.member_role(shared.id, head.id) == ProjectRole.HEAD


async def test_the_only_head_of_a_shared_project_must_hand_it_over_first(
    client: httpx.AsyncClient, services: Services
) -> None:
    stores = services.ctx.stores
    head = await make_user(services, "head")
    member = await make_user(services, "member")
    project = await stores.projects.create(name="team", owner_id=head.id)
    await stores.projects.add_member(project.id, member.id)

    r = await client.delete("/api/v1/users/me", headers=head.headers)

    assert r.status_code == 409
    assert r.json()["error"]["details"] == {"project_ids": [project.id]}
    assert await stores.users.get(head.id) is not None
    assert await stores.projects.member_role(project.id, head.id) == ProjectRole.HEAD
    assert await stores.projects.member_role(project.id, member.id) == ProjectRole.MEMBER
