"""Authorization rules inside a project: member, head, admin, and the non-member's 404."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from api.auth import Principal
from api.authz import check_head, check_member, effective_role, require_head, require_member
from api.context import AppContext
from core.errors import Forbidden, NotAMember, NotFound
from core.models import ProjectRole, Role


def test_effective_role() -> None:
    assert effective_role(ProjectRole.MEMBER, Role.MEMBER) == ProjectRole.MEMBER
    assert effective_role(ProjectRole.HEAD, Role.MEMBER) == ProjectRole.HEAD
    assert effective_role(None, Role.HEAD) is None  # a global head is no head of every project
    assert effective_role(None, Role.ADMIN) == ProjectRole.HEAD
    assert effective_role(ProjectRole.MEMBER, Role.ADMIN) == ProjectRole.HEAD


def test_non_member_is_answered_as_missing() -> None:
    with pytest.raises(NotAMember) as caught:
        check_member(None, Role.MEMBER, "meeting")
    assert isinstance(caught.value, NotFound)
    assert caught.value.http_status == 404
    assert caught.value.message == "meeting not found"
    with pytest.raises(NotAMember):
        check_head(None, Role.HEAD)


def test_member_without_the_role_is_forbidden() -> None:
    assert check_member(ProjectRole.MEMBER, Role.MEMBER) == ProjectRole.MEMBER
    with pytest.raises(Forbidden) as caught:
        check_head(ProjectRole.MEMBER, Role.MEMBER)
    assert caught.value.http_status == 403
    assert check_head(ProjectRole.HEAD, Role.MEMBER) == ProjectRole.HEAD
    assert check_head(None, Role.ADMIN) == ProjectRole.HEAD


@dataclass
class FakeProjects:
    """Roles by (project_id, user_id); projects that exist."""

    roles: dict[tuple[str, str], ProjectRole] = field(default_factory=dict)
    existing: set[str] = field(default_factory=set)

    async def member_role(self, project_id: str, user_id: str) -> ProjectRole | None:
        return self.roles.get((project_id, user_id))

    async def get(self, project_id: str) -> Any:
        return object() if project_id in self.existing else None


def ctx_over(projects: FakeProjects) -> AppContext:
    @dataclass
    class FakeStores:
        projects: FakeProjects

    @dataclass
    class FakeContext:
        stores: FakeStores

    return cast(AppContext, FakeContext(FakeStores(projects)))


def principal(user_id: str, role: Role = Role.MEMBER) -> Principal:
    return Principal(user_id=user_id, role=role, via="token")


async def test_require_member_and_head_against_the_store() -> None:
    projects = FakeProjects(
        roles={("p", "head"): ProjectRole.HEAD, ("p", "member"): ProjectRole.MEMBER},
        existing={"p"},
    )
    ctx = ctx_over(projects)
    assert await require_member(ctx, "p", principal("member")) == ProjectRole.MEMBER
    assert await require_head(ctx, "p", principal("head")) == ProjectRole.HEAD
    with pytest.raises(Forbidden):
        await require_head(ctx, "p", principal("member"))
    with pytest.raises(NotAMember):
        await require_member(ctx, "p", principal("stranger"))
    with pytest.raises(NotAMember):
        await require_head(ctx, "q", principal("head"))


async def test_admin_acts_as_head_only_where_the_project_exists() -> None:
    ctx = ctx_over(FakeProjects(existing={"p"}))
    admin = principal("root", Role.ADMIN)
    assert await require_head(ctx, "p", admin) == ProjectRole.HEAD
    with pytest.raises(NotAMember) as caught:
        await require_member(ctx, "gone", admin, "task")
    assert caught.value.message == "task not found"
