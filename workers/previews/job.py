"""The preview job: a PNG of at most EDGE pixels a side for a document version, a thumbnail
of an image (Pillow) or the first page of a PDF (pypdfium2).

The source is copied to a temporary file chunk by chunk, then rendered in a child process
(workers/previews/render.py) held to PREVIEW_MAX_SECONDS of CPU and PREVIEW_MAX_MEMORY_BYTES;
every tenth of a second the job reports a step, so a cancellation kills the child at once.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import NotFound
from core.sniff import previewable
from core.store.documents import Preview, VersionDoc
from core.store.jobs import JobDoc
from workers.deps import WorkerDeps
from workers.errors import JobFailed
from workers.previews.render import TOO_LARGE, UNREADABLE
from workers.progress import JobProgressReporter

EDGE = 512
POLL_SECONDS = 0.1


def preview_key(version: VersionDoc) -> str:
    return f"{version.object_key}.preview.png"


async def make_preview(deps: WorkerDeps, job: JobDoc,
                       report: JobProgressReporter) -> dict[str, Any]:
    version = await deps.stores.document_versions.get(str(job.params.get("version_id")))
    if version is None:
        raise JobFailed("not_found", "the document version no longer exists")
    kind = previewable(version.content_type)
    if kind is None:
        raise JobFailed("unsupported_format", f"no preview for {version.content_type}")
    with tempfile.TemporaryDirectory(prefix="roomcast-preview-") as tmp:
        source, target = Path(tmp) / "source", Path(tmp) / "preview.png"
        await _download(deps, version, source, report)
        await _render(deps, kind, source, target, report)
        data = await asyncio.to_thread(target.read_bytes)
    await report.step("saving", 90)
    key = preview_key(version)
    await deps.objects.put_bytes(key, data, content_type="image/png")
    if await deps.stores.document_versions.set_preview(
            version.id, Preview(status="ready", job_id=job.id, object_key=key)) is None:
        await deps.objects.delete(key)
        raise JobFailed("not_found", "the document version was deleted meanwhile")
    base = f"/api/v1/documents/{version.document_id}/versions/{version.number}"
    return {"document_id": version.document_id, "version_id": version.id,
            "version": version.number, "preview_url": base + "/preview", "bytes": len(data)}


async def discard(deps: WorkerDeps, job: JobDoc) -> None:
    version = await deps.stores.document_versions.get(str(job.params.get("version_id")))
    if version is None:
        return
    await deps.objects.delete(preview_key(version))
    await deps.stores.document_versions.set_preview(
        version.id, Preview(status="failed", job_id=job.id))


async def _download(deps: WorkerDeps, version: VersionDoc, target: Path,
                    report: JobProgressReporter) -> None:
    done = 0
    try:
        with target.open("wb") as handle:
            async for chunk in deps.objects.open_stream(version.object_key):
                await asyncio.to_thread(handle.write, chunk)
                done += len(chunk)
                await report.step("downloading", 5 + 25 * done / max(version.size, 1))
    except NotFound as exc:
        raise JobFailed("not_found", "the document's file is gone") from exc


async def _render(deps: WorkerDeps, kind: str, source: Path, target: Path,
                  report: JobProgressReporter) -> None:
    settings = deps.settings
    errors = target.with_name("errors.txt")
    # Said before the child starts: a quick render must not skip its stage in the rooms.
    await report.step("rendering", 30)
    with errors.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "workers.previews.render", kind, str(source), str(target),
            str(settings.preview_max_pixels), str(settings.preview_max_page_points), str(EDGE),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=err,
            preexec_fn=_limits(settings.preview_max_seconds, settings.preview_max_memory_bytes),
        )
    started = time.monotonic()
    # Wall time bounds a child that sleeps or blocks rather than computes, too.
    deadline = started + 2 * settings.preview_max_seconds + 5
    try:
        while proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), POLL_SECONDS)
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise JobFailed("too_large", "rendering the preview took too long") from None
                share = (time.monotonic() - started) / (2 * settings.preview_max_seconds)
                await report.step("rendering", 30 + 55 * min(share, 1.0))
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    message = errors.read_text(errors="replace").strip()[-500:]
    _check(proc.returncode, message)


def _check(code: int | None, message: str) -> None:
    if code == 0:
        return
    if code == TOO_LARGE:
        raise JobFailed("too_large", message or "the file is too large to preview")
    if code == UNREADABLE:
        raise JobFailed("invalid_file", message or "the file cannot be read")
    # Killed by its CPU limit (SIGXCPU, SIGKILL) or out of memory: too much work.
    raise JobFailed("too_large", f"rendering the preview stopped (exit {code}): "
                    "it needs more time or memory than previews are given")


def _limits(seconds: int, memory: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return apply
