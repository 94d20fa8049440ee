"""Projects, with their members embedded (a project rarely has more than a few hundred)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from pymongo import ASCENDING, ReturnDocument

from core.errors import Conflict
from core.ids import new_id, utcnow
from core.models import Page, PageParams, ProjectRole
from core.store.base import Repository

# Compare-and-set retries when two requests change the same project's members at once.
MEMBER_CAS_ATTEMPTS = 5


class Member(BaseModel):
    user_id: str
    role: ProjectRole = ProjectRole.MEMBER
    added_at: datetime = Field(default_factory=utcnow)


class Project(BaseModel):
    id: str = Field(default_factory=new_id)
    name: str
    description: str = ""
    owner_id: str
    members: list[Member] = []
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    def role_of(self, user_id: str) -> ProjectRole | None:
        for member in self.members:
            if member.user_id == user_id:
                return member.role
        return None


class Profile(BaseModel):
    """The public face of a user, as members see each other."""

    user_id: str
    name: str
    email: str


MembersChange = Callable[[list[Member]], list[Member]]


class ProjectRepository(Repository[Project]):
    collection_name = "projects"
    model = Project

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("members.user_id", ASCENDING), ("created_at", ASCENDING)])

    async def create(self, *, name: str, owner_id: str, description: str = "") -> Project:
        project = Project(
            name=name, description=description, owner_id=owner_id,
            members=[Member(user_id=owner_id, role=ProjectRole.HEAD)],
        )
        await self._c.insert_one(self._dump(project))
        return project

    async def get(self, project_id: str) -> Project | None:
        return await self._get(_id=project_id)

    async def update(self, project_id: str, **fields: Any) -> Project | None:
        fields["updated_at"] = utcnow()
        doc = await self._c.find_one_and_update(
            {"_id": project_id}, {"$set": fields}, return_document=ReturnDocument.AFTER
        )
        return None if doc is None else self._load(doc)

    async def delete(self, project_id: str) -> bool:
        result = await self._c.delete_one({"_id": project_id})
        return bool(result.deleted_count)

    async def member_role(self, project_id: str, user_id: str) -> ProjectRole | None:
        """The user's role in the project, or None if they are not a member (or it is gone)."""
        doc = await self._c.find_one(
            {"_id": project_id, "members.user_id": user_id},
            {"members": {"$elemMatch": {"user_id": user_id}}},
        )
        if doc is None:
            return None
        return ProjectRole(doc["members"][0]["role"])

    async def member_ids(self, project_id: str) -> frozenset[str] | None:
        """The ids of the project's members, or None if there is no such project."""
        doc = await self._c.find_one({"_id": project_id}, {"members.user_id": 1})
        if doc is None:
            return None
        return frozenset(m["user_id"] for m in doc.get("members", ()))

    async def add_member(
        self, project_id: str, user_id: str, role: ProjectRole = ProjectRole.MEMBER
    ) -> Project | None:
        member = Member(user_id=user_id, role=role).model_dump(mode="python")
        doc = await self._c.find_one_and_update(
            {"_id": project_id, "members.user_id": {"$ne": user_id}},
            {"$push": {"members": member}, "$set": {"updated_at": utcnow()}},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else self._load(doc)

    async def remove_member(self, project_id: str, user_id: str) -> bool:
        """Remove the member; raises Conflict rather than leave the project without a head."""

        def change(members: list[Member]) -> list[Member]:
            return [m for m in members if m.user_id != user_id]

        return await self._change_members(project_id, user_id, change) is not None

    async def set_member_role(
        self, project_id: str, user_id: str, role: ProjectRole
    ) -> Project | None:
        """Change a member's role; None if they are not a member, Conflict for the last head."""

        def change(members: list[Member]) -> list[Member]:
            return [m.model_copy(update={"role": role}) if m.user_id == user_id else m
                    for m in members]

        return await self._change_members(project_id, user_id, change)

    async def _change_members(
        self, project_id: str, user_id: str, change: MembersChange
    ) -> Project | None:
        # Neither array filters nor the positional operator behave the same on the in-process
        # stand-in, so read, change in Python, and write back only if nobody changed it since.
        for _ in range(MEMBER_CAS_ATTEMPTS):
            doc = await self._c.find_one({"_id": project_id, "members.user_id": user_id})
            if doc is None:
                return None
            members = change(Project.model_validate({**doc, "id": doc["_id"]}).members)
            if not any(m.role == ProjectRole.HEAD for m in members):
                raise Conflict("a project keeps at least one head")
            after = await self._c.find_one_and_update(
                {"_id": project_id, "members": doc["members"]},
                {"$set": {"members": [m.model_dump(mode="python") for m in members],
                          "updated_at": utcnow()}},
                return_document=ReturnDocument.AFTER,
            )
            if after is not None:
                return self._load(after)
        raise Conflict("the project's members changed concurrently; try again")

    async def list_for_user(self, user_id: str, params: PageParams) -> Page[Project]:
        return await self._page(
            {"members.user_id": user_id}, params, [("created_at", ASCENDING), ("_id", ASCENDING)]
        )

    async def profiles(self, user_ids: list[str], prefix: str = "") -> list[Profile]:
        """Names and emails of these users (optionally those whose name or email starts with
        `prefix`), sorted by name. Reads the users collection: members are shown with them."""
        query: dict[str, Any] = {"_id": {"$in": user_ids}}
        if prefix:
            query["$or"] = _prefix_match(prefix)
        return await self._find_profiles(query, limit=0)

    async def search_users(
        self, prefix: str, *, exclude: list[str], params: PageParams
    ) -> Page[Profile]:
        """A page of the active users outside `exclude` whose name or email starts with
        `prefix`, by name."""
        query = {"_id": {"$nin": exclude}, "active": {"$ne": False}, "$or": _prefix_match(prefix)}
        total = await self._db["users"].count_documents(query)
        items = await self._find_profiles(query, limit=params.limit, skip=params.offset)
        return Page[Profile](items=items, total=total, limit=params.limit, offset=params.offset)

    async def _find_profiles(
        self, query: dict[str, Any], *, limit: int, skip: int = 0
    ) -> list[Profile]:
        projection = {"name": 1, "email": 1}
        cursor = self._db["users"].find(query, projection).sort(
            [("name", ASCENDING), ("_id", ASCENDING)]
        ).skip(skip).limit(limit)
        return [Profile(user_id=d["_id"], name=d.get("name", ""), email=d.get("email", ""))
                async for d in cursor]


def _prefix_match(prefix: str) -> list[dict[str, Any]]:
    escaped = re.escape(prefix.strip())
    # Emails are stored lower-cased, so an anchored case-sensitive match can use the index.
    return [
        {"name": {"$regex": f"^{escaped}", "$options": "i"}},
        {"email": {"$regex": f"^{re.escape(prefix.strip().lower())}"}},
    ]

