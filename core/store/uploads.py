"""Uploaded files: metadata; the bytes live in object storage under a key without the name."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING

from core.ids import new_id, utcnow
from core.models import Page, PageParams
from core.store.base import Repository

ColumnType = Literal["string", "integer", "float", "boolean", "datetime"]


class UploadDoc(BaseModel):
    id: str = Field(default_factory=new_id)
    project_id: str
    uploaded_by: str
    filename: str
    format: str
    content_type: str
    size: int
    sha256: str
    object_key: str
    job_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    # How to read it, as the upload asked: whether the first row names the columns (None:
    # decided from the file), and types for some columns instead of inferred ones.
    header: bool | None = None
    types: dict[str, ColumnType] = Field(default_factory=dict)


class UploadRepository(Repository[UploadDoc]):
    collection_name = "uploads"
    model = UploadDoc

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("project_id", ASCENDING), ("created_at", DESCENDING)])

    async def create(self, upload: UploadDoc) -> UploadDoc:
        await self._c.insert_one(self._dump(upload))
        return upload

    async def get(self, upload_id: str) -> UploadDoc | None:
        return await self._get(_id=upload_id)

    async def set_job(self, upload_id: str, job_id: str) -> None:
        await self._c.update_one({"_id": upload_id}, {"$set": {"job_id": job_id}})

    async def delete(self, upload_id: str) -> bool:
        result = await self._c.delete_one({"_id": upload_id})
        return bool(result.deleted_count)

    async def list_for_project(self, project_id: str, params: PageParams) -> Page[UploadDoc]:
        return await self._page(
            {"project_id": project_id}, params, [("created_at", DESCENDING), ("_id", ASCENDING)]
        )
