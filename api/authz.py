"""Who may do what inside a project.

A non-member is answered exactly as if the resource did not exist (404, same message), so
probing ids leaks nothing; a member lacking the role gets 403. Admins act as heads anywhere.
"""

from __future__ import annotations

from api.auth import Principal
from api.context import AppContext
from core.errors import Forbidden, NotAMember
from core.models import ProjectRole, Role


def effective_role(member_role: ProjectRole | None, user_role: Role) -> ProjectRole | None:
    """The role a caller acts with: their project role, or head for an admin."""
    if user_role == Role.ADMIN:
        return ProjectRole.HEAD
    return member_role


def check_member(
    member_role: ProjectRole | None, user_role: Role, what: str = "project"
) -> ProjectRole:
    role = effective_role(member_role, user_role)
    if role is None:
        raise NotAMember(f"{what} not found")
    return role


def check_head(
    member_role: ProjectRole | None, user_role: Role, what: str = "project"
) -> ProjectRole:
    role = check_member(member_role, user_role, what)
    if role != ProjectRole.HEAD:
        raise Forbidden("this action needs the head role in the project")
    return role


async def require_member(
    ctx: AppContext, project_id: str, user: Principal, what: str = "project"
) -> ProjectRole:
    """The caller's role in the project; NotAMember (404, "`what` not found") otherwise."""
    member_role = await ctx.stores.projects.member_role(project_id, user.user_id)
    # An admin acts as head, but only on a project that exists.
    if (member_role is None and user.role == Role.ADMIN
            and await ctx.stores.projects.get(project_id) is None):
        raise NotAMember(f"{what} not found")
    return check_member(member_role, user.role, what)


async def require_head(
    ctx: AppContext, project_id: str, user: Principal, what: str = "project"
) -> ProjectRole:
    """Like require_member, and Forbidden (403) unless the caller is a head (or an admin)."""
    member_role = await require_member(ctx, project_id, user, what)
    return check_head(member_role, user.role, what)
