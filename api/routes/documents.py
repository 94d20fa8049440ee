"""REST routes: sharing a document. Any file is streamed to object storage under a key of its
own (never its name), its type sniffed from its first bytes and its SHA-256 computed on the
way; the same name in the same folder again adds a version."""

from __future__ import annotations

from collections.abc import AsyncIterator

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.authz import require_member
from api.context import AppContext
from api.routes.documents_common import (
    Description,
    DocumentOut,
    Folder,
    TagText,
    VersionOut,
    document_event,
)
from api.routes.jobs_common import start_job
from api.routes.upload_stream import FilePart, stream_file
from api.routing import Call, NoModel, Router, json_response
from core.errors import EmptyFile, PayloadTooLarge, QuotaExceeded, ServiceUnavailable
from core.filenames import name_key, safe_name
from core.ids import new_id
from core.sniff import previewable, sniff
from core.store.documents import DocumentDoc, Preview, VersionDoc
from core.store.jobs import JobDoc, JobKind

router = Router(tags=["documents"])

MULTIPART_SLACK = 64 * 1024  # the multipart framing around the file
SNIFF_BYTES = 4096


class UploadParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    folder: Folder = ""
    tags: TagText | None = None
    description: Description | None = None


class DocumentUploaded(BaseModel):
    created: bool = Field(description="true for a new document, false for a new version")
    document: DocumentOut
    version: VersionOut


@router.post("/projects/{project_id}/documents", query=UploadParams,
             response=DocumentUploaded, status=201, raw_body="multipart/form-data",
             also_ok=(200,), errors=(400, 404, 413, 422, 503))
async def upload_document(call: Call[NoModel, UploadParams]) -> Response:
    """Share a file (part `file`, any type): a new document, or a new version of the one with
    the same name in the same folder."""
    ctx, project_id = call.ctx, call.path["project_id"]
    await require_member(ctx, project_id, call.user)
    version_id = new_id()
    key = f"documents/{project_id}/{version_id}"
    part, name = await _store(call, project_id, key)
    version = VersionDoc(
        id=version_id, document_id="", project_id=project_id, number=0, size=part.size,
        sha256=part.sha256.hexdigest(), content_type=sniff(part.head, name), object_key=key,
        uploaded_by=call.user.user_id)
    try:
        document, created = await _record(ctx, call, name, version)
    except BaseException:
        await ctx.stores.storage_usage.release(project_id, part.size)
        await ctx.objects.delete(key)
        raise
    version = await _start_preview(ctx, document, version)
    await document_event(ctx, document, "document.created" if created else "document.updated",
                         call.user.user_id, change=None if created else "version",
                         version=VersionOut.of(version).model_dump(mode="json"))
    body = DocumentUploaded(created=created, document=DocumentOut.of(document),
                            version=VersionOut.of(version))
    location = f"/api/v1/documents/{document.id}"
    return json_response(body, 201 if created else 200, headers={"Location": location})


async def _store(call: Call[NoModel, UploadParams], project_id: str,
                 key: str) -> tuple[FilePart, str]:
    """Stream the file to `key` within the cap and what is left of the quota, then reserve
    its size; nothing is kept when either is passed."""
    ctx, cap = call.ctx, call.ctx.settings.document_max_bytes
    quota = ctx.settings.project_storage_quota_bytes
    room = max(0, quota - await ctx.stores.storage_usage.used(project_id))
    declared = int(call.request.headers.get("content-length") or 0)
    if declared > cap + MULTIPART_SLACK:
        raise _too_large(cap)
    if declared > room + MULTIPART_SLACK:
        raise _over_quota(quota, room)
    part, names = FilePart(), list[str]()
    chunks = stream_file(call.request, part, max_bytes=min(cap, room))
    try:
        await ctx.objects.put_stream(key, _checked(chunks, part, names),
                                     content_type="application/octet-stream")
    except PayloadTooLarge:
        raise (_too_large(cap) if cap <= room else _over_quota(quota, room)) from None
    if not await ctx.stores.storage_usage.reserve(project_id, part.size, quota):
        await ctx.objects.delete(key)
        raise _over_quota(quota, quota - await ctx.stores.storage_usage.used(project_id))
    return part, names[0]


def _too_large(cap: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"documents are limited to {cap} bytes", details={"max_bytes": cap})


def _over_quota(quota: int, room: int) -> QuotaExceeded:
    return QuotaExceeded(f"the project's documents may take {quota} bytes; {room} are left",
                         details={"quota_bytes": quota, "available_bytes": max(0, room)})


async def _checked(chunks: AsyncIterator[bytes], part: FilePart,
                   names: list[str]) -> AsyncIterator[bytes]:
    """The file's bytes once its name is known to be usable: a bad name or an empty file is
    refused before object storage keeps anything."""
    async for chunk in chunks:
        if not names:
            names.append(safe_name(part.filename or ""))
        yield chunk
    if not names:
        names.append(safe_name(part.filename or ""))
    if part.size == 0:
        raise EmptyFile("the file is empty")


async def _record(ctx: AppContext, call: Call[NoModel, UploadParams], name: str,
                  version: VersionDoc) -> tuple[DocumentDoc, bool]:
    meta, project_id = call.query, version.project_id
    fresh = DocumentDoc(project_id=project_id, name=name, name_key=name_key(name),
                        folder=meta.folder, tags=meta.tags or [],
                        description=meta.description or "", uploaded_by=call.user.user_id)
    documents = ctx.stores.documents
    for _ in range(3):  # the document may be deleted between finding it and versioning it
        document, created = await documents.find_or_create(fresh)
        version.document_id = document.id
        if not created and (meta.tags is not None or meta.description is not None):
            changes = {k: v for k, v in (("tags", meta.tags), ("description", meta.description))
                       if v is not None}
            await documents.update(document.id, **changes)
        latest = await documents.add_version(document.id, version, ctx.stores.document_versions)
        if latest is not None:
            return latest, created
    raise ServiceUnavailable("the document kept changing; try again")


async def _start_preview(ctx: AppContext, document: DocumentDoc,
                         version: VersionDoc) -> VersionDoc:
    if previewable(version.content_type) is None:
        return version
    job = JobDoc(project_id=document.project_id, kind=JobKind.PREVIEW,
                 created_by=version.uploaded_by, max_attempts=ctx.settings.job_max_attempts,
                 params={"document_id": document.id, "version_id": version.id})
    queued = await ctx.stores.document_versions.set_preview(
        version.id, Preview(status="queued", job_id=job.id))
    try:
        await start_job(ctx, job)
    except ServiceUnavailable:
        # The document is stored all the same; only its preview is missing.
        queued = await ctx.stores.document_versions.set_preview(
            version.id, Preview(status="failed", job_id=job.id))
    return queued or version
