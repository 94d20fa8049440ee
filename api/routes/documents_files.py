"""REST routes: a document's bytes and previews. Streamed by the API from local storage; on
S3 a redirect to a presigned URL whose response carries the same headers."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response, StreamingResponse

from api.context import AppContext
from api.routes.documents_common import member_document, version_of
from api.routing import Call, NoModel, Router
from core.errors import NotFound
from core.filenames import content_disposition
from core.objects import Download
from core.store.documents import DocumentDoc, VersionDoc

router = Router(tags=["documents"])

# Nothing downloaded is ever run or rendered by the browser in the API's origin.
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox"}


@router.get("/documents/{document_id}/content", response_media="application/octet-stream",
            errors=(404,))
async def download_document(call: Call[NoModel, NoModel]) -> Response:
    """The latest version's bytes (`307` to a presigned URL on S3)."""
    document, _ = await member_document(call.ctx, call)
    return await _serve(call.ctx, document, await version_of(call.ctx, document, None))


@router.get("/documents/{document_id}/versions/{number}/content",
            response_media="application/octet-stream", errors=(404,))
async def download_version(call: Call[NoModel, NoModel]) -> Response:
    """One version's bytes (`307` to a presigned URL on S3)."""
    document, _ = await member_document(call.ctx, call)
    version = await version_of(call.ctx, document, call.path["number"])
    return await _serve(call.ctx, document, version)


@router.get("/documents/{document_id}/preview", response_media="image/png", errors=(404,))
async def latest_preview(call: Call[NoModel, NoModel]) -> Response:
    """The latest version's preview PNG, once made."""
    document, _ = await member_document(call.ctx, call)
    return await _preview(call.ctx, document, await version_of(call.ctx, document, None))


@router.get("/documents/{document_id}/versions/{number}/preview", response_media="image/png",
            errors=(404,))
async def version_preview(call: Call[NoModel, NoModel]) -> Response:
    """One version's preview PNG, once made."""
    document, _ = await member_document(call.ctx, call)
    version = await version_of(call.ctx, document, call.path["number"])
    return await _preview(call.ctx, document, version)


async def _serve(ctx: AppContext, document: DocumentDoc, version: VersionDoc) -> Response:
    disposition = content_disposition(document.name)
    return await _object(ctx, version.object_key, version.content_type, version.size,
                         disposition)


async def _preview(ctx: AppContext, document: DocumentDoc, version: VersionDoc) -> Response:
    key = version.preview.object_key
    if version.preview.status != "ready" or key is None:
        raise NotFound("this version has no preview", details={"status":
                                                               version.preview.status})
    stem = document.name.rsplit(".", 1)[0] or "preview"
    disposition = content_disposition(f"{stem}.preview.png", "inline")
    return await _object(ctx, key, "image/png", None, disposition)


async def _object(ctx: AppContext, key: str, content_type: str, size: int | None,
                  disposition: str) -> Response:
    url = await ctx.objects.presigned_url(key, download=Download(content_type, disposition))
    if url is not None:
        return RedirectResponse(url, status_code=307)
    if not await ctx.objects.exists(key):
        raise NotFound("the file is gone")
    headers = {"Content-Disposition": disposition, **SAFE_HEADERS}
    if size is not None:
        headers["Content-Length"] = str(size)
    return StreamingResponse(ctx.objects.open_stream(key), media_type=content_type,
                             headers=headers)
