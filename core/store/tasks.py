"""Tasks in a project."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from pymongo import ASCENDING, ReturnDocument

from core.ids import new_id, utcnow
from core.models import Page, PageParams
from core.store.base import Repository


class TaskStatus(StrEnum):
    TODO = "todo"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class TaskPriority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


class Task(BaseModel):
    id: str = Field(default_factory=new_id)
    project_id: str
    title: str
    description: str = ""
    status: TaskStatus = TaskStatus.TODO
    priority: TaskPriority = TaskPriority.MEDIUM
    assignee_id: str | None = None
    due_date: date | None = None
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class TaskFilter(BaseModel):
    status: TaskStatus | None = None
    priority: TaskPriority | None = None
    assignee_id: str | None = None
    due_before: date | None = None  # inclusive: due on or before this day


class TaskRepository(Repository[Task]):
    collection_name = "tasks"
    model = Task

    async def ensure_indexes(self) -> None:
        # Each list filter, followed by the list's sort, so a filtered page is an index range.
        for name in (None, "status", "assignee_id", "priority"):
            keys = [("project_id", ASCENDING)] + ([(name, ASCENDING)] if name else [])
            await self._c.create_index([*keys, ("created_at", ASCENDING), ("_id", ASCENDING)])
        await self._c.create_index([("project_id", ASCENDING), ("due_date", ASCENDING)])

    @staticmethod
    def _dump(item: BaseModel) -> dict[str, Any]:
        # BSON has no date type: ISO day strings sort and compare like the days they name.
        doc = Repository._dump(item)
        if isinstance(doc.get("due_date"), date):
            doc["due_date"] = doc["due_date"].isoformat()
        return doc

    async def create(self, task: Task) -> Task:
        await self._c.insert_one(self._dump(task))
        return task

    async def get(self, task_id: str) -> Task | None:
        return await self._get(_id=task_id)

    async def update(self, task_id: str, **fields: Any) -> Task | None:
        if isinstance(fields.get("due_date"), date):
            fields["due_date"] = fields["due_date"].isoformat()
        fields["updated_at"] = utcnow()
        doc = await self._c.find_one_and_update(
            {"_id": task_id}, {"$set": fields}, return_document=ReturnDocument.AFTER
        )
        return None if doc is None else self._load(doc)

    async def delete(self, task_id: str) -> bool:
        result = await self._c.delete_one({"_id": task_id})
        return bool(result.deleted_count)

    async def list_for_project(
        self, project_id: str, params: PageParams, where: TaskFilter
    ) -> Page[Task]:
        query: dict[str, Any] = {"project_id": project_id}
        for name in ("status", "priority", "assignee_id"):
            value = getattr(where, name)
            if value is not None:
                query[name] = str(value)
        if where.due_before is not None:
            query["due_date"] = {"$ne": None, "$lte": where.due_before.isoformat()}
        return await self._page(query, params, [("created_at", ASCENDING), ("_id", ASCENDING)])

    async def count_by_status(self, project_id: str) -> dict[TaskStatus, int]:
        # One count per status rather than an aggregation: `aggregate` differs on the stand-in.
        return {
            status: int(await self._c.count_documents(
                {"project_id": project_id, "status": status.value}
            ))
            for status in TaskStatus
        }

    async def unassign(self, project_id: str, user_id: str) -> int:
        """Clear the assignee on a project's tasks, when the user leaves the project."""
        result = await self._c.update_many(
            {"project_id": project_id, "assignee_id": user_id},
            {"$set": {"assignee_id": None, "updated_at": utcnow()}},
        )
        return int(result.modified_count)

    async def delete_for_project(self, project_id: str) -> int:
        result = await self._c.delete_many({"project_id": project_id})
        return int(result.deleted_count)
