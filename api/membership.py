"""Ending memberships: shared by removing a member, deleting a project and deleting an account."""

from __future__ import annotations

from api.context import AppContext
from api.lifecycle import start_deletion
from core.errors import Conflict, NotFound, RoomcastError
from core.models import PageParams, ProjectRole
from core.store.jobs import JobDoc
from core.store.projects import Project


async def drop_member(ctx: AppContext, project_id: str, user_id: str) -> None:
    """Remove the member, unassign their tasks and take their sockets out of the project's
    rooms on every process. Conflict if they are the last head, NotFound if not a member."""
    if not await ctx.stores.projects.remove_member(project_id, user_id):
        raise NotFound("member not found")
    await ctx.stores.tasks.unassign(project_id, user_id)
    await ctx.emitter.membership_revoked(user_id, project_id)


async def purge_project(ctx: AppContext, project: Project, by: str) -> JobDoc:
    """Delete the project document at once (nobody reaches the project any more), start the
    job that removes everything under it, and take every member's sockets out of its rooms."""
    if not await ctx.stores.projects.delete(project.id):
        raise NotFound("project not found")
    job = await start_deletion(ctx, project.id, by)
    failed: RoomcastError | None = None
    for member in project.members:
        try:
            await ctx.emitter.membership_revoked(member.user_id, project.id)
        except RoomcastError as exc:  # revoke the others anyway, then report it
            failed = exc
    if failed is not None:
        raise failed
    return job


async def projects_of(ctx: AppContext, user_id: str) -> list[Project]:
    projects: list[Project] = []
    params = PageParams(limit=200)
    while True:
        page = await ctx.stores.projects.list_for_user(user_id, params)
        projects.extend(page.items)
        if params.offset + len(page.items) >= page.total or not page.items:
            return projects
        params = PageParams(limit=200, offset=params.offset + len(page.items))


async def leave_all_projects(ctx: AppContext, user_id: str) -> None:
    """Before an account goes: its projects must not be left without a head.

    A project where the user is the only member is deleted with it; a project where the user
    is the only head of other members is a Conflict naming it (hand it over first).
    """
    projects = await projects_of(ctx, user_id)
    orphaned = [
        p.id for p in projects
        if len(p.members) > 1 and p.role_of(user_id) == ProjectRole.HEAD
        and sum(m.role == ProjectRole.HEAD for m in p.members) == 1
    ]
    if orphaned:
        raise Conflict("make another member head of these projects first",
                       details={"project_ids": orphaned})
    for project in projects:
        if len(project.members) == 1:
            await purge_project(ctx, project, user_id)
        else:
            await drop_member(ctx, project.id, user_id)
