"""REST routes: uploads. A file is streamed to object storage and starts an ingestion job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import PurePath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.responses import RedirectResponse, Response, StreamingResponse

from api.authz import require_member
from api.context import AppContext
from api.routes.jobs_common import JobAccepted, job_location, start_job
from api.routes.projects import publish
from api.routes.upload_stream import FilePart, stream_file
from api.routing import Call, NoModel, Router, json_response
from core.errors import (
    InvalidName,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from core.filenames import content_disposition, safe_name
from core.ids import new_id
from core.models import Page, PageParams
from core.store.jobs import JobDoc, JobKind
from core.store.uploads import ColumnType, UploadDoc

router = Router(tags=["uploads"])

# extension -> format. The worker checks that the content agrees with it.
FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".dat": "dat",
           ".mat": "mat"}
CONTENT_TYPES = {
    "csv": "text/csv", "dat": "text/plain", "mat": "application/x-matlab-data",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# Content that is certainly not data, whatever its name says: refused at once.
FOREIGN_SIGNATURES = {
    b"MZ": "a Windows executable", b"\x7fELF": "an ELF executable", b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image", b"GIF8": "a GIF image", b"\xff\xd8\xff": "a JPEG image",
    b"\x1f\x8b": "a gzip archive", b"7z\xbc\xaf": "a 7-zip archive", b"Rar!": "a RAR archive",
}
SNIFF_BYTES = max(len(signature) for signature in FOREIGN_SIGNATURES)


class UploadOut(BaseModel):
    id: str
    project_id: str
    uploaded_by: str
    filename: str
    format: str
    content_type: str
    size: int
    sha256: str
    job_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, upload: UploadDoc) -> UploadOut:
        return cls.model_validate(upload.model_dump())


class UploadAccepted(JobAccepted):
    upload: UploadOut


class UploadPage(Page[UploadOut]):
    pass


def format_of(filename: str) -> str:
    fmt = FORMATS.get(PurePath(filename).suffix.lower())
    if fmt is None:
        raise UnsupportedMediaType(
            f"unsupported file type; send one of {', '.join(sorted(FORMATS))}",
            details={"filename": filename},
        )
    return fmt


def refuse_foreign(head: bytes) -> None:
    for signature, what in FOREIGN_SIGNATURES.items():
        if head.startswith(signature):
            raise UnsupportedMediaType(f"the file is {what}, not a data file")


async def _store(call: Call[NoModel, Any], key: str) -> FilePart:
    ctx = call.ctx
    limit = ctx.settings.upload_max_bytes
    declared = int(call.request.headers.get("content-length") or 0)
    if declared > limit + 64 * 1024:  # the multipart framing adds a little
        raise PayloadTooLarge(f"uploads are limited to {limit} bytes")
    part = FilePart()
    chunks = _sniffed(stream_file(call.request, part, max_bytes=limit), part)
    await ctx.objects.put_stream(key, chunks, content_type="application/octet-stream")
    return part


async def _sniffed(chunks: AsyncIterator[bytes], part: FilePart) -> AsyncIterator[bytes]:
    """The file's bytes, once its name and first bytes are known to be acceptable.

    Chunks are held back until SNIFF_BYTES have arrived (or the file ended), so a refused file
    is refused before object storage has seen any of it, and the rest is never read.
    """
    held: list[bytes] = []
    async for chunk in chunks:
        held.append(chunk)
        if len(part.head) >= SNIFF_BYTES:
            break  # the stream goes on below, where it stopped
    _check(part)
    for kept in held:
        yield kept
    async for chunk in chunks:
        yield chunk


def _check(part: FilePart) -> None:
    format_of(part.filename or "")
    refuse_foreign(part.head)


class UploadOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    header: bool | None = Field(
        default=None, description="whether the first row names the columns (CSV, DAT, XLSX); "
        "default: it does, unless every cell of it is a number")
    types: str | None = Field(
        default=None, max_length=100_000,
        description='a JSON object naming the type of some columns, e.g. {"zip": "string"}: '
        "string, integer, float, boolean or datetime")

    def column_types(self) -> dict[str, ColumnType]:
        if self.types is None:
            return {}
        try:
            return _TYPES.validate_json(self.types)
        except ValidationError as exc:
            raise ValidationFailed("types must be a JSON object of column name to type", details=[
                {"loc": ["query", "types", *e["loc"]], "type": e["type"], "message": e["msg"]}
                for e in exc.errors(include_url=False)]) from exc


_TYPES: TypeAdapter[dict[str, ColumnType]] = TypeAdapter(dict[str, ColumnType])


@router.post("/projects/{project_id}/uploads", query=UploadOptions, response=UploadAccepted,
             status=202, raw_body="multipart/form-data", errors=(400, 404, 413, 415, 422, 503))
async def create_upload(call: Call[NoModel, UploadOptions]) -> Response:
    """Upload a data file (part `file`: CSV, TSV, XLSX, DAT or MAT); its ingestion starts."""
    project_id = call.path["project_id"]
    await require_member(call.ctx, project_id, call.user)
    types = call.query.column_types()
    upload_id = new_id()
    key = f"uploads/{project_id}/{upload_id}"
    part = await _store(call, key)
    filename = _upload_name(part.filename)
    fmt = format_of(filename)
    job = JobDoc(project_id=project_id, kind=JobKind.INGEST, created_by=call.user.user_id,
                 upload_id=upload_id, max_attempts=call.ctx.settings.job_max_attempts)
    upload = UploadDoc(
        id=upload_id, project_id=project_id, uploaded_by=call.user.user_id, filename=filename,
        format=fmt, content_type=CONTENT_TYPES[fmt], size=part.size,
        sha256=part.sha256.hexdigest(), object_key=key, job_id=job.id,
        header=call.query.header, types=types,
    )
    await call.ctx.stores.uploads.create(upload)
    await publish(call.ctx, f"project:{project_id}", "upload.created",
                  {"upload": UploadOut.of(upload).model_dump(mode="json"),
                   "by": call.user.user_id})
    await start_job(call.ctx, job)
    body = UploadAccepted(job_id=job.id, status=job.status, location=job_location(job.id),
                          upload=UploadOut.of(upload))
    return json_response(body, 202, headers={"Location": job_location(job.id)})


def _upload_name(raw: str | None) -> str:
    """The name kept for an upload (core/filenames.py); `file` when nothing of it is left."""
    try:
        return safe_name(raw or "")
    except InvalidName:
        return "file"


@router.get("/projects/{project_id}/uploads", query=PageParams, response=UploadPage,
            errors=(404,))
async def list_uploads(call: Call[NoModel, PageParams]) -> UploadPage:
    """The project's uploads, newest first."""
    project_id = call.path["project_id"]
    await require_member(call.ctx, project_id, call.user)
    page = await call.ctx.stores.uploads.list_for_project(project_id, call.query)
    return UploadPage(items=[UploadOut.of(u) for u in page.items], total=page.total,
                      limit=page.limit, offset=page.offset)


async def member_upload(ctx: AppContext, call: Call[NoModel, NoModel]) -> UploadDoc:
    upload = await ctx.stores.uploads.get(call.path["upload_id"])
    if upload is None:
        raise NotFound("upload not found")
    await require_member(ctx, upload.project_id, call.user, "upload")
    return upload


@router.get("/uploads/{upload_id}", response=UploadOut, errors=(404,))
async def get_upload(call: Call[NoModel, NoModel]) -> UploadOut:
    """An upload's metadata."""
    return UploadOut.of(await member_upload(call.ctx, call))


@router.get("/uploads/{upload_id}/content", response_media="application/octet-stream",
            errors=(404,))
async def download_upload(call: Call[NoModel, NoModel]) -> Response:
    """The original file: a redirect to a presigned URL on S3, else streamed by the API."""
    upload = await member_upload(call.ctx, call)
    return await object_response(call.ctx, upload.object_key, upload.content_type,
                                 upload.filename)


async def object_response(
    ctx: AppContext, key: str, content_type: str, filename: str | None = None
) -> Response:
    url = await ctx.objects.presigned_url(key)
    if url is not None:
        return RedirectResponse(url, status_code=307)
    if not await ctx.objects.exists(key):
        raise NotFound("the file is gone")
    headers = {}
    if filename:
        headers["Content-Disposition"] = content_disposition(filename)
    return StreamingResponse(ctx.objects.open_stream(key), media_type=content_type,
                             headers=headers)


@router.delete("/uploads/{upload_id}", status=204, errors=(404,))
async def delete_upload(call: Call[NoModel, NoModel]) -> None:
    """Delete an upload and its file (a dataset already ingested from it stays)."""
    upload = await member_upload(call.ctx, call)
    await call.ctx.objects.delete(upload.object_key)
    await call.ctx.stores.uploads.delete(upload.id)
    await publish(call.ctx, f"project:{upload.project_id}", "upload.deleted",
                  {"upload_id": upload.id, "by": call.user.user_id})
