"""REST routes: finding, describing and deleting documents and their versions."""

from __future__ import annotations

from pydantic import Field

from api.authz import require_member
from api.context import AppContext
from api.patch_bodies import Patch
from api.routes.documents_common import (
    Description,
    DocumentOut,
    DocumentPage,
    Folder,
    Tags,
    VersionOut,
    VersionPage,
    check_owner,
    document_event,
    member_document,
    version_of,
)
from api.routes.projects import publish
from api.routing import Call, NoModel, Router
from core.errors import Conflict, InvalidState, NotFound
from core.filenames import name_key, safe_name
from core.models import PageParams
from core.store.documents import DocumentDoc, DocumentQuery, VersionDoc

router = Router(tags=["documents"])


class DocumentUpdate(Patch):
    name: str | None = Field(default=None, min_length=1, max_length=1000)
    folder: Folder | None = None
    tags: Tags | None = None
    description: Description | None = None


@router.get("/projects/{project_id}/documents", query=DocumentQuery, response=DocumentPage,
            errors=(404, 422))
async def list_documents(call: Call[NoModel, DocumentQuery]) -> DocumentPage:
    """The project's documents, most recently changed first, filtered by name, tag, type,
    folder, uploader and date."""
    project_id = call.path["project_id"]
    await require_member(call.ctx, project_id, call.user)
    page = await call.ctx.stores.documents.search(project_id, call.query)
    return DocumentPage(items=[DocumentOut.of(d) for d in page.items], total=page.total,
                        limit=page.limit, offset=page.offset)


@router.get("/documents/{document_id}", response=DocumentOut, errors=(404,))
async def get_document(call: Call[NoModel, NoModel]) -> DocumentOut:
    """A document: its name, folder, tags, description and latest version."""
    document, _ = await member_document(call.ctx, call)
    return DocumentOut.of(document)


@router.get("/documents/{document_id}/versions", query=PageParams, response=VersionPage,
            errors=(404,))
async def list_versions(call: Call[NoModel, PageParams]) -> VersionPage:
    """A document's versions, newest first."""
    document, _ = await member_document(call.ctx, call)
    page = await call.ctx.stores.document_versions.page(document.id, call.query)
    return VersionPage(items=[VersionOut.of(v) for v in page.items], total=page.total,
                       limit=page.limit, offset=page.offset)


@router.patch("/documents/{document_id}", body=DocumentUpdate, response=DocumentOut,
              errors=(403, 404, 409, 422))
async def update_document(call: Call[DocumentUpdate, NoModel]) -> DocumentOut:
    """Rename, move, tag or describe a document (its uploader or a head)."""
    ctx = call.ctx
    document, role = await member_document(ctx, call)
    check_owner(document.uploaded_by, call, role)
    changes = call.body.changes()
    if "name" in changes:
        changes["name"] = safe_name(changes["name"])
        changes["name_key"] = name_key(changes["name"])
    folder = changes.get("folder", document.folder)
    key = changes.get("name_key", document.name_key)
    if await ctx.stores.documents.rename_clashes(document, folder, key):
        raise Conflict("another document has that name in that folder")
    if not changes:
        return DocumentOut.of(document)
    updated = await ctx.stores.documents.update(document.id, updated_by=call.user.user_id,
                                                **changes)
    if updated is None:
        raise NotFound("document not found")
    await document_event(ctx, updated, "document.updated", call.user.user_id,
                         change="metadata", version=None)
    return DocumentOut.of(updated)


@router.delete("/documents/{document_id}", status=204, errors=(403, 404))
async def delete_document(call: Call[NoModel, NoModel]) -> None:
    """Delete a document with every version and preview (its uploader or a head)."""
    ctx = call.ctx
    document, role = await member_document(ctx, call)
    check_owner(document.uploaded_by, call, role)
    if not await ctx.stores.documents.delete(document.id):
        raise NotFound("document not found")
    for version in await ctx.stores.document_versions.all_of(document.id):
        await _drop_version(ctx, version)
    await publish(ctx, f"project:{document.project_id}", "document.deleted",
                  {"document_id": document.id, "by": call.user.user_id})


@router.delete("/documents/{document_id}/versions/{number}", status=204,
               errors=(403, 404, 409))
async def delete_version(call: Call[NoModel, NoModel]) -> None:
    """Delete one version (the document's uploader, the version's, or a head); a document
    keeps at least one (409: delete the document instead)."""
    ctx = call.ctx
    document, role = await member_document(ctx, call)
    version = await version_of(ctx, document, call.path["number"])
    if call.user.user_id != version.uploaded_by:
        check_owner(document.uploaded_by, call, role)
    page = await ctx.stores.document_versions.page(document.id, PageParams(limit=2))
    if page.total < 2:
        raise InvalidState("a document keeps at least one version: delete the document")
    await _drop_version(ctx, version)
    updated = await _new_latest(ctx, document, version)
    await document_event(ctx, updated, "document.updated", call.user.user_id,
                         change="version_deleted", version=VersionOut.of(version).model_dump(
                             mode="json"))


async def _new_latest(ctx: AppContext, document: DocumentDoc,
                      dropped: VersionDoc) -> DocumentDoc:
    if document.version_id != dropped.id:
        return document
    latest = await ctx.stores.document_versions.latest(document.id)
    updated = None if latest is None else await ctx.stores.documents.set_latest(
        document.id, latest)
    return updated or document


async def _drop_version(ctx: AppContext, version: VersionDoc) -> None:
    if not await ctx.stores.document_versions.delete(version.id):
        return  # another request dropped it (and released its bytes)
    await ctx.objects.delete(version.object_key)
    if version.preview.object_key:
        await ctx.objects.delete(version.preview.object_key)
    await ctx.stores.storage_usage.release(version.project_id, version.size)
