"""Preview jobs: thumbnails and first pages from a real `roomcast worker` process (Redis
broker, S3, a shared document store), bounded inputs refused, cancellation killing the child
that renders."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from core.store.jobs import JobDoc, JobKind
from roomcast.factory import Services
from tests.integration.documents.support import API, fetch, pdf, png, png_claiming, put
from tests.integration.workers.cluster import Cluster, job_events, watch
from tests.integration.workers.conftest import Member, wait_job
from workers.deps import WorkerDeps
from workers.errors import JobCancelled, JobFailed
from workers.previews.job import _render


@pytest.fixture
async def http(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(services.ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def preview_of(http: httpx.AsyncClient, member: Member, name: str,
                     content: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    made = await put(http, member.project_id, member.headers, name, content)
    assert made.status_code == 201, made.text
    version = made.json()["version"]
    assert version["preview"]["status"] == "queued"
    job = await wait_job(http, member, version["preview"]["job_id"])
    versions = await http.get(f"{API}/documents/{version['document_id']}/versions",
                              headers=member.headers)
    return job, versions.json()["items"][0]


@pytest.mark.parametrize(("name", "content", "code"), [
    ("bomb.png", png_claiming(100_000, 100_000), "too_large"),
    ("poster.pdf", pdf(20_000, 300), "too_large"),
    ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 100, "invalid_file"),
    ("broken.pdf", b"%PDF-1.7\n" + b"not a pdf " * 100, "invalid_file"),
])
async def test_what_cannot_be_previewed_fails_the_job_and_keeps_the_document(
    services: Services, http: httpx.AsyncClient, member: Member, name: str, content: bytes,
    code: str,
) -> None:
    job, version = await preview_of(http, member, name, content)
    assert (job["status"], job["error_code"]) == ("failed", code), job
    assert version["preview"] == {"status": "failed", "job_id": job["id"], "url": None}
    preview = await http.get(f"{API}/documents/{version['document_id']}/preview",
                             headers=member.headers)
    assert preview.status_code == 404
    content_back = await http.get(version["url"], headers=member.headers)
    assert content_back.content == content


async def test_a_cancelled_preview_stops_and_leaves_no_picture(
    make_settings: Any, member: Member, services: Services
) -> None:
    slow = services.settings.model_copy(update={"job_step_delay_ms": 200})
    services.ctx.settings = slow
    assert services.jobs is not None and services.jobs.deps is not None
    services.jobs.deps = WorkerDeps(slow, services.ctx.stores, services.ctx.objects,
                                    services.jobs.deps.emitter)
    transport = httpx.ASGITransport(app=create_app(services.ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        big = pdf() + b"%" + os.urandom(3 << 20)  # a dozen chunks to copy, a step each
        made = (await put(http, member.project_id, member.headers, "big.pdf", big)).json()
        job_id = made["version"]["preview"]["job_id"]
        await wait_job(http, member, job_id, until=("running",))
        cancel = await http.post(f"{API}/jobs/{job_id}/cancel", headers=member.headers)
        assert cancel.status_code == 202
        job = await wait_job(http, member, job_id)
        assert job["status"] == "cancelled"
        versions = await http.get(f"{API}/documents/{made['document']['id']}/versions",
                                  headers=member.headers)
        assert versions.json()["items"][0]["preview"]["status"] == "failed"


class CancelWhileRendering:
    """A cancel seen at the first report made while the child runs (after the one that says
    rendering starts)."""

    def __init__(self) -> None:
        self.steps: list[str] = []

    async def step(self, stage: str, progress: float) -> None:
        self.steps.append(stage)
        if len(self.steps) > 1:
            raise JobCancelled()


async def test_cancelling_kills_a_render_that_would_never_end(
    services: Services, tmp_path: Path
) -> None:
    """The child blocks opening a FIFO nobody writes: only the kill ends it."""
    assert services.jobs is not None and services.jobs.deps is not None
    source = tmp_path / "never.png"
    os.mkfifo(source)
    reporter = CancelWhileRendering()
    with pytest.raises(JobCancelled):
        await _render(services.jobs.deps, "image", source, tmp_path / "out.png",
                      reporter)  # type: ignore[arg-type]
    assert reporter.steps == ["rendering", "rendering"]
    assert not (tmp_path / "out.png").exists()


class Steps:
    async def step(self, stage: str, progress: float) -> None:
        await asyncio.sleep(0)


async def test_a_render_past_its_time_is_stopped(
    services: Services, tmp_path: Path
) -> None:
    assert services.jobs is not None and services.jobs.deps is not None
    deps = services.jobs.deps
    bounded = WorkerDeps(deps.settings.model_copy(update={"preview_max_seconds": 1}),
                         deps.stores, deps.objects, deps.emitter)
    source = tmp_path / "never.pdf"
    os.mkfifo(source)
    with pytest.raises(JobFailed) as failed:
        await _render(bounded, "pdf", source, tmp_path / "out.png", Steps())  # type: ignore[arg-type]
    assert failed.value.code == "too_large"


async def test_a_worker_process_makes_previews_served_from_s3(cluster: Cluster) -> None:
    await asyncio.to_thread(cluster.start_worker)
    sock = await watch(cluster)
    try:
        async with httpx.AsyncClient(base_url=cluster.serve.url, timeout=30) as http:
            photo = await put(http, cluster.project_id, cluster.headers, "photo.png",
                              png(2000, 1000))
            paper = await put(http, cluster.project_id, cluster.headers, "paper.pdf", pdf())
            for made in (photo, paper):
                job_id = made.json()["version"]["preview"]["job_id"]
                done = await sock.wait_for(lambda j=job_id: job_events(
                    sock, "job.completed", j), 60)
                stages = {e["stage"] for e in job_events(sock, "job.progress", job_id)}
                assert {"queued", "downloading", "rendering", "saving"} <= stages
                url = done[0]["result"]["preview_url"]
                picture = await fetch(http, url, cluster.headers)
                assert picture.status_code == 200
                assert picture.headers["content-type"] == "image/png"
                assert picture.content.startswith(b"\x89PNG")
            job = await cluster.stores.jobs.get(job_id)
            assert isinstance(job, JobDoc) and job.kind == JobKind.PREVIEW
            # The rooms heard of the previews; nobody was notified of them.
            notified = await cluster.stores.db["notifications"].count_documents(
                {"user_id": cluster.user_id})
            assert notified == 0
    finally:
        await sock.close()
