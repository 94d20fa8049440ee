"""REST routes: tasks in a project."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from api.auth import Principal
from api.authz import check_head, require_member
from api.context import AppContext
from api.patch_bodies import Patch
from api.routes.people import notify, planner
from api.routes.projects import Day, Name, Text, publish
from api.routing import Call, NoModel, Router
from core.errors import NotFound, ValidationFailed
from core.models import Page, PageParams, ProjectRole
from core.store.tasks import Task, TaskFilter, TaskPriority, TaskStatus

router = Router(tags=["tasks"])

UserId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Name
    description: Text = ""
    status: TaskStatus = TaskStatus.TODO
    priority: TaskPriority = TaskPriority.MEDIUM
    assignee_id: UserId | None = None
    due_date: Day | None = None


class TaskUpdate(Patch):
    nullable = frozenset({"assignee_id", "due_date"})
    title: Name | None = None
    description: Text | None = None
    status: TaskStatus | None = None
    priority: TaskPriority | None = None
    assignee_id: UserId | None = None
    due_date: Day | None = None


class TaskQuery(PageParams, TaskFilter):
    due_before: Day | None = None  # inclusive: due on or before this day


class TaskPage(Page[Task]):
    pass


class TaskStats(BaseModel):
    todo: int
    in_progress: int
    done: int
    total: int


async def check_assignee(ctx: AppContext, project_id: str, assignee_id: str | None) -> None:
    if assignee_id is None:
        return
    if await ctx.stores.projects.member_role(project_id, assignee_id) is None:
        raise ValidationFailed(details=[{
            "loc": ["body", "assignee_id"], "type": "not_a_member",
            "message": "the assignee must be a member of the project",
        }])


async def load_task(
    ctx: AppContext, task_id: str, user: Principal
) -> tuple[Task, ProjectRole]:
    task = await ctx.stores.tasks.get(task_id)
    if task is None:
        raise NotFound("task not found")
    role = await require_member(ctx, task.project_id, user, "task")
    return task, role


async def announce(ctx: AppContext, event: str, task: Task, by: str) -> None:
    data = {"task": task.model_dump(mode="json"), "by": by}
    await publish(ctx, f"project:{task.project_id}", event, data)
    # Its due and overdue reminders follow every change (core/reminders.py).
    if event == "task.deleted":
        await planner(ctx).drop_all(task.id)
    else:
        await planner(ctx).task(task)


async def tell_assignee(ctx: AppContext, task: Task, by: str) -> None:
    if task.assignee_id is not None and task.assignee_id != by:
        await notify(ctx, task.assignee_id, "task.assigned", f"Task assigned: {task.title}",
                     {"task_id": task.id, "project_id": task.project_id, "by": by})


@router.post("/projects/{project_id}/tasks", body=TaskCreate, response=Task, status=201,
             errors=(404,))
async def create_task(call: Call[TaskCreate, NoModel]) -> Task:
    """Create a task (any member); the assignee, if any, must be a member and is notified."""
    ctx, project_id = call.ctx, call.path["project_id"]
    await require_member(ctx, project_id, call.user)
    await check_assignee(ctx, project_id, call.body.assignee_id)
    task = await ctx.stores.tasks.create(
        Task(project_id=project_id, created_by=call.user.user_id, **call.body.model_dump())
    )
    await announce(ctx, "task.created", task, call.user.user_id)
    await tell_assignee(ctx, task, call.user.user_id)
    return task


@router.get("/projects/{project_id}/tasks", query=TaskQuery, response=TaskPage, errors=(404,))
async def list_tasks(call: Call[NoModel, TaskQuery]) -> TaskPage:
    """The project's tasks, oldest first, filtered by status, priority, assignee_id and
    due_before (due on or before that day)."""
    project_id = call.path["project_id"]
    await require_member(call.ctx, project_id, call.user)
    where = TaskFilter.model_validate(call.query.model_dump(include=set(TaskFilter.model_fields)))
    page = await call.ctx.stores.tasks.list_for_project(project_id, call.query, where)
    return TaskPage(items=page.items, total=page.total, limit=page.limit, offset=page.offset)


@router.get("/projects/{project_id}/tasks/stats", response=TaskStats, errors=(404,))
async def task_stats(call: Call[NoModel, NoModel]) -> TaskStats:
    """How many of the project's tasks are in each status."""
    project_id = call.path["project_id"]
    await require_member(call.ctx, project_id, call.user)
    counts = await call.ctx.stores.tasks.count_by_status(project_id)
    return TaskStats(todo=counts[TaskStatus.TODO], in_progress=counts[TaskStatus.IN_PROGRESS],
                     done=counts[TaskStatus.DONE], total=sum(counts.values()))


@router.get("/tasks/{task_id}", response=Task, errors=(404,))
async def get_task(call: Call[NoModel, NoModel]) -> Task:
    """One task of a project the caller is a member of."""
    task, _ = await load_task(call.ctx, call.path["task_id"], call.user)
    return task


@router.patch("/tasks/{task_id}", body=TaskUpdate, response=Task, errors=(404,))
async def update_task(call: Call[TaskUpdate, NoModel]) -> Task:
    """Change a task (any member); null clears assignee_id or due_date. A new assignee must be
    a member and is notified."""
    ctx = call.ctx
    task, _ = await load_task(ctx, call.path["task_id"], call.user)
    changes = call.body.changes()
    if not changes:
        return task
    if "assignee_id" in changes:
        await check_assignee(ctx, task.project_id, changes["assignee_id"])
    updated = await ctx.stores.tasks.update(task.id, **changes)
    if updated is None:
        raise NotFound("task not found")
    await announce(ctx, "task.updated", updated, call.user.user_id)
    if updated.assignee_id != task.assignee_id:
        await tell_assignee(ctx, updated, call.user.user_id)
    return updated


@router.delete("/tasks/{task_id}", access="head", status=204, errors=(403, 404))
async def delete_task(call: Call[NoModel, NoModel]) -> None:
    """Delete a task: its creator or a head of the project."""
    ctx = call.ctx
    task, role = await load_task(ctx, call.path["task_id"], call.user)
    if task.created_by != call.user.user_id:
        check_head(role, call.user.role, "task")
    if not await ctx.stores.tasks.delete(task.id):
        raise NotFound("task not found")
    await announce(ctx, "task.deleted", task, call.user.user_id)
