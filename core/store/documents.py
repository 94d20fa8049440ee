"""Documents a project shares: one document per name and folder, each upload of that name a
version. The bytes live in object storage under keys without the name; a project's storage
use is a counter reserved before a version is recorded, so concurrent uploads cannot pass the
quota together."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from core.errors import DuplicateKey
from core.ids import new_id, utcnow
from core.models import Page, PageParams
from core.store.base import Repository
from core.store.collection import Database
from core.store.schema import SCHEMA_VERSION, VERSION_FIELD


class Preview(BaseModel):
    status: str = Field(description="queued, ready, failed or none (not a previewable type)")
    job_id: str | None = None
    object_key: str | None = None


class VersionDoc(BaseModel):
    id: str = Field(default_factory=new_id)
    document_id: str
    project_id: str
    number: int
    size: int
    sha256: str
    content_type: str
    object_key: str
    uploaded_by: str
    preview: Preview = Preview(status="none")
    created_at: datetime = Field(default_factory=utcnow)


class DocumentDoc(BaseModel):
    id: str = Field(default_factory=new_id)
    project_id: str
    name: str
    name_key: str
    folder: str = ""
    tags: list[str] = []
    description: str = ""
    uploaded_by: str
    # The latest version's, kept here for lists and searches.
    version: int = 0
    version_id: str | None = None
    versions_made: int = 0  # numbers versions; a deleted number is not given again
    size: int = 0
    sha256: str = ""
    content_type: str = ""
    updated_by: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


# No NUL byte: one cannot appear in a MongoDB regular expression.
_NO_NUL = r"^[^\x00]*$"


class DocumentQuery(PageParams):
    q: str | None = Field(default=None, min_length=1, max_length=100, pattern=_NO_NUL,
                          description="part of the name, any case")
    tag: str | None = Field(default=None, min_length=1, max_length=50)
    type: str | None = Field(default=None, min_length=1, max_length=100, pattern=_NO_NUL,
                             description="a MIME type (`application/pdf`) or its first part "
                             "(`image`)")
    folder: str | None = Field(default=None, max_length=500)
    uploaded_by: str | None = Field(default=None, min_length=1, max_length=64)
    since: AwareDatetime | None = Field(default=None, description="updated at or after")
    until: AwareDatetime | None = Field(default=None, description="updated before")

    def filter(self, project_id: str) -> dict[str, Any]:
        query: dict[str, Any] = {"project_id": project_id}
        if self.q:
            query["name"] = {"$regex": re.escape(self.q), "$options": "i"}
        if self.tag:
            query["tags"] = self.tag
        if self.type:
            query["content_type"] = (self.type if "/" in self.type
                                     else {"$regex": "^" + re.escape(self.type) + "/"})
        if self.folder is not None:
            query["folder"] = self.folder
        if self.uploaded_by:
            query["uploaded_by"] = self.uploaded_by
        span: dict[str, Any] = {}
        if self.since:
            span["$gte"] = self.since
        if self.until:
            span["$lt"] = self.until
        if span:
            query["updated_at"] = span
        return query


class DocumentRepository(Repository[DocumentDoc]):
    collection_name = "documents"
    model = DocumentDoc

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("project_id", ASCENDING), ("folder", ASCENDING),
                                    ("name_key", ASCENDING)], unique=True)
        await self._c.create_index([("project_id", ASCENDING), ("updated_at", DESCENDING)])

    async def get(self, document_id: str) -> DocumentDoc | None:
        return await self._get(_id=document_id)

    async def find_or_create(self, document: DocumentDoc) -> tuple[DocumentDoc, bool]:
        """The project's document of that name in that folder, or `document` stored as new
        (True). Two first uploads of one name at once make one document."""
        query = {"project_id": document.project_id, "folder": document.folder,
                 "name_key": document.name_key}
        for _ in range(3):
            found = await self._get(**query)
            if found is not None:
                return found, False
            try:
                await self._c.insert_one(self._dump(document))
            except DuplicateKey:
                continue
            return document, True
        raise RuntimeError("a document kept appearing and disappearing")

    async def add_version(self, document_id: str, version: VersionDoc,
                          versions: VersionRepository) -> DocumentDoc | None:
        """Number the version (1, 2, ...: never reused) and make it the latest, unless a
        later one got there first; None if the document is gone."""
        doc = await self._c.find_one_and_update(
            {"_id": document_id}, {"$inc": {"versions_made": 1}},
            return_document=ReturnDocument.AFTER)
        if doc is None:
            return None
        version.number = int(doc["versions_made"])
        await versions.create(version)
        await self._c.update_one(
            {"_id": document_id, "version": {"$lt": version.number}},
            {"$set": {"version": version.number, **_latest(version),
                      "updated_by": version.uploaded_by, "updated_at": utcnow()}})
        return await self.get(document_id)

    async def update(self, document_id: str, **fields: Any) -> DocumentDoc | None:
        fields["updated_at"] = utcnow()
        doc = await self._c.find_one_and_update(
            {"_id": document_id}, {"$set": fields}, return_document=ReturnDocument.AFTER)
        return None if doc is None else self._load(doc)

    async def rename_clashes(self, document: DocumentDoc, folder: str, key: str) -> bool:
        found = await self._c.find_one({"project_id": document.project_id, "folder": folder,
                                        "name_key": key, "_id": {"$ne": document.id}})
        return found is not None

    async def set_latest(self, document_id: str, latest: VersionDoc) -> DocumentDoc | None:
        return await self.update(document_id, version=latest.number, **_latest(latest))

    async def delete(self, document_id: str) -> bool:
        result = await self._c.delete_one({"_id": document_id})
        return bool(result.deleted_count)

    async def search(self, project_id: str, params: DocumentQuery) -> Page[DocumentDoc]:
        return await self._page(params.filter(project_id), params,
                                [("updated_at", DESCENDING), ("_id", ASCENDING)])


def _latest(version: VersionDoc) -> dict[str, Any]:
    return {"version_id": version.id, "size": version.size, "sha256": version.sha256,
            "content_type": version.content_type}


class VersionRepository(Repository[VersionDoc]):
    collection_name = "document_versions"
    model = VersionDoc

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("document_id", ASCENDING), ("number", DESCENDING)])
        await self._c.create_index([("project_id", ASCENDING)])

    async def create(self, version: VersionDoc) -> VersionDoc:
        await self._c.insert_one(self._dump(version))
        return version

    async def get(self, version_id: str) -> VersionDoc | None:
        return await self._get(_id=version_id)

    async def number(self, document_id: str, number: int) -> VersionDoc | None:
        return await self._get(document_id=document_id, number=number)

    async def latest(self, document_id: str) -> VersionDoc | None:
        doc = await self._c.find_one({"document_id": document_id},
                                     sort=[("number", DESCENDING)])
        return None if doc is None else self._load(doc)

    async def page(self, document_id: str, params: PageParams) -> Page[VersionDoc]:
        return await self._page({"document_id": document_id}, params,
                                [("number", DESCENDING)])

    async def all_of(self, document_id: str) -> list[VersionDoc]:
        cursor = self._c.find({"document_id": document_id})
        return [self._load(doc) async for doc in cursor]

    async def set_preview(self, version_id: str, preview: Preview) -> VersionDoc | None:
        doc = await self._c.find_one_and_update(
            {"_id": version_id}, {"$set": {"preview": preview.model_dump()}},
            return_document=ReturnDocument.AFTER)
        return None if doc is None else self._load(doc)

    async def delete(self, version_id: str) -> bool:
        result = await self._c.delete_one({"_id": version_id})
        return bool(result.deleted_count)


class StorageUsage:
    """Bytes each project keeps in documents, reserved before a version is recorded."""

    collection_name = "storage_usage"

    def __init__(self, db: Database) -> None:
        self._c = db[self.collection_name]

    async def ensure_indexes(self) -> None:
        """Keyed by project id: nothing to add."""

    async def used(self, project_id: str) -> int:
        doc = await self._c.find_one({"_id": project_id})
        return int(doc["bytes"]) if doc else 0

    async def reserve(self, project_id: str, size: int, quota: int) -> bool:
        """Add `size` if the total stays within `quota`; False (nothing added) otherwise."""
        await self._c.update_one(
            {"_id": project_id},
            {"$setOnInsert": {"bytes": 0, VERSION_FIELD: SCHEMA_VERSION}}, upsert=True)
        result = await self._c.update_one(
            {"_id": project_id, "bytes": {"$lte": quota - size}}, {"$inc": {"bytes": size}})
        return bool(result.modified_count)

    async def release(self, project_id: str, size: int) -> None:
        await self._c.update_one({"_id": project_id}, {"$inc": {"bytes": -size}})

    async def forget(self, project_id: str) -> None:
        await self._c.delete_one({"_id": project_id})
