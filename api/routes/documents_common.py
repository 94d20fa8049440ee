"""Documents as the REST side shows them, and who may change them."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from api.authz import require_member
from api.context import AppContext
from api.routes.projects import publish
from api.routing import Call
from core.errors import Forbidden, NotFound
from core.models import Page, ProjectRole
from core.store.documents import DocumentDoc, VersionDoc

MAX_FOLDER_CHARS = 500
MAX_FOLDER_DEPTH = 10
MAX_TAGS = 20
_REMOVED = frozenset({"Cc", "Cf", "Cn", "Co", "Cs"})


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    return "".join(ch for ch in text if unicodedata.category(ch) not in _REMOVED).strip()


def clean_folder(raw: str) -> str:
    """`a/b/c`: control characters, empty parts, `.` and `..` removed."""
    parts = [_clean(part) for part in raw.replace("\\", "/").split("/")]
    parts = [part for part in parts if part and part not in (".", "..")]
    if len(parts) > MAX_FOLDER_DEPTH:
        raise ValueError(f"at most {MAX_FOLDER_DEPTH} folder levels")
    folder = "/".join(parts)
    if len(folder) > MAX_FOLDER_CHARS:
        raise ValueError(f"at most {MAX_FOLDER_CHARS} characters")
    return folder


def clean_tags(raw: list[str]) -> list[str]:
    tags: list[str] = []
    for tag in (_clean(t) for t in raw):
        if not tag or len(tag) > 50:
            raise ValueError("a tag is 1 to 50 characters")
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    return tags


def _split_tags(raw: str) -> list[str]:
    return clean_tags([t for t in raw.split(",") if t.strip()])


Folder = Annotated[str, Field(max_length=2000), AfterValidator(clean_folder)]
Tags = Annotated[list[str], Field(max_length=100), AfterValidator(clean_tags)]
TagText = Annotated[str, Field(max_length=2000, description="comma-separated"),
                    AfterValidator(_split_tags)]
Description = Annotated[str, Field(max_length=2000), AfterValidator(_clean)]


class PreviewOut(BaseModel):
    status: str = Field(description="none (not an image or PDF), queued, ready or failed")
    job_id: str | None
    url: str | None = Field(description="the PNG, once ready")


class VersionOut(BaseModel):
    id: str
    document_id: str
    number: int
    size: int
    sha256: str
    content_type: str
    uploaded_by: str
    created_at: datetime
    url: str = Field(description="the version's content")
    preview: PreviewOut

    @classmethod
    def of(cls, version: VersionDoc) -> VersionOut:
        base = f"/api/v1/documents/{version.document_id}/versions/{version.number}"
        ready = version.preview.status == "ready"
        return cls(id=version.id, document_id=version.document_id, number=version.number,
                   size=version.size, sha256=version.sha256, content_type=version.content_type,
                   uploaded_by=version.uploaded_by, created_at=version.created_at,
                   url=base + "/content",
                   preview=PreviewOut(status=version.preview.status,
                                      job_id=version.preview.job_id,
                                      url=base + "/preview" if ready else None))


class DocumentOut(BaseModel):
    id: str
    project_id: str
    name: str
    folder: str
    tags: list[str]
    description: str
    uploaded_by: str
    version: int = Field(description="the latest version's number")
    size: int
    sha256: str
    content_type: str = Field(description="sniffed from the content")
    updated_by: str | None
    created_at: datetime
    updated_at: datetime
    url: str = Field(description="the latest version's content")

    @classmethod
    def of(cls, document: DocumentDoc) -> DocumentOut:
        fields = document.model_dump(exclude={"name_key", "version_id", "versions_made"})
        return cls(**fields, url=f"/api/v1/documents/{document.id}/content")


class DocumentPage(Page[DocumentOut]):
    pass


class VersionPage(Page[VersionOut]):
    pass


async def member_document(ctx: AppContext, call: Call[Any, Any]) -> tuple[DocumentDoc,
                                                                          ProjectRole]:
    document = await ctx.stores.documents.get(call.path["document_id"])
    if document is None:
        raise NotFound("document not found")
    role = await require_member(ctx, document.project_id, call.user, "document")
    return document, role


def check_owner(uploaded_by: str, call: Call[Any, Any], role: ProjectRole) -> None:
    if uploaded_by != call.user.user_id and role != ProjectRole.HEAD:
        raise Forbidden("only its uploader or a head of the project may do this")


async def version_of(ctx: AppContext, document: DocumentDoc, number: str | None) -> VersionDoc:
    if number is None:
        found = await ctx.stores.document_versions.get(document.version_id or "")
    elif number.isdigit() and len(number) < 10:
        found = await ctx.stores.document_versions.number(document.id, int(number))
    else:
        found = None
    if found is None:
        raise NotFound("version not found")
    return found


async def document_event(ctx: AppContext, document: DocumentDoc, event: str, by: str,
                         **extra: Any) -> None:
    """`document.created` / `document.updated` into the project's room, after the change."""
    await publish(ctx, f"project:{document.project_id}", event,
                  {"document": DocumentOut.of(document).model_dump(mode="json"), "by": by,
                   **extra})
