"""Tracing: one upload followed, in one trace, from the REST request through the queue and the
ingestion (store, Redis and object-storage calls) to the job.completed broadcast, with the
SDK's in-memory exporter; the trace id in the JSON log lines; and nothing installed when off."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from redis.asyncio import Redis
from taskiq.api import run_receiver_task

from core.models import Role
from core.tracing import Tracing, emit_call, object_call
from realtime.emitter import RedisEmitter
from roomcast.factory import Services, build_object_storage, build_services, create_asgi
from roomcast.logs import use_trace_ids
from roomcast.worker import build_job_runtime
from tests.integration.workers.test_pipeline_embedded import blobs_csv
from tests.support.domain import make_user
from tests.support.logs import json_log_lines
from tests.support.services import RedisServer, S3Server

pytestmark = pytest.mark.slow


@pytest.fixture
async def traced(make_settings: Any, redis_proc: RedisServer, s3_proc: S3Server,
                 mongo_wire_url: str) -> AsyncIterator[tuple[Services, InMemorySpanExporter]]:
    settings = make_settings(
        redis_url=f"redis://127.0.0.1:{redis_proc.port}/14", mongo_uri=mongo_wire_url,
        mongo_db=f"t{uuid4().hex}", s3_endpoint=s3_proc.endpoint,
        s3_access_key=s3_proc.access_key, s3_secret_key=s3_proc.secret_key,
        s3_bucket=f"rc-{uuid4().hex[:12]}", job_lease_seconds=2.0, worker_metrics_port=0)
    exporter = InMemorySpanExporter()
    tracing = Tracing.with_exporter(exporter, "roomcast-test")
    services = build_services(settings, tracing=tracing)
    await services.start()
    # A worker in this process, so its spans reach the same exporter.
    redis = Redis.from_url(settings.redis_url)
    emitter = RedisEmitter(redis, services.ctx.stores, settings)
    worker = build_job_runtime(
        settings, stores=services.ctx.stores, runs_jobs=True, tracing=tracing,
        objects=tracing.calls(build_object_storage(settings), "objects", object_call),
        emitter=tracing.calls(emitter, "emitter", emit_call))
    await worker.start()
    receiver = asyncio.create_task(run_receiver_task(worker.broker, max_async_tasks=1,
                                                     max_prefetch=0))
    try:
        yield services, exporter
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver
        await worker.stop()
        await emitter.close()
        await redis.aclose()
        await services.close()
        use_trace_ids(None)


def in_trace(spans: tuple[ReadableSpan, ...], trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans if s.context is not None and s.context.trace_id == trace_id]


async def test_one_upload_is_one_trace_from_rest_to_the_broadcast(
    traced: tuple[Services, InMemorySpanExporter],
) -> None:
    services, exporter = traced
    with json_log_lines() as lines:
        caller = await make_user(services, "uploader", role=Role.MEMBER)
        project = await services.ctx.stores.projects.create(name="Traced", owner_id=caller.id)
        transport = httpx.ASGITransport(app=create_asgi(services))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     headers=caller.headers, timeout=30) as http:
            response = await http.post(f"/api/v1/projects/{project.id}/uploads",
                                       files={"file": ("points.csv", blobs_csv())})
            assert response.status_code == 202, response.text
            job_id = response.json()["job_id"]
            deadline = asyncio.get_running_loop().time() + 60
            while (await http.get(f"/api/v1/jobs/{job_id}")).json()["status"] != "succeeded":
                assert asyncio.get_running_loop().time() < deadline, "the job did not finish"
                await asyncio.sleep(0.05)

        def executed() -> list[ReadableSpan]:
            # It ends last: after the job's end was announced and the task returned.
            return [s for s in exporter.get_finished_spans()
                    if s.name == "execute/roomcast.run_job"]

        while not executed():
            assert asyncio.get_running_loop().time() < deadline, "the task's span never ended"
            await asyncio.sleep(0.05)

    spans = exporter.get_finished_spans()
    request = next(s for s in spans if s.kind == SpanKind.SERVER
                   and s.name == "POST /api/v1/projects/{project_id}/uploads")
    assert request.context is not None
    trace = in_trace(spans, request.context.trace_id)
    names = {s.name for s in trace}
    kinds = {(s.name, s.kind) for s in trace}
    assert ("send/roomcast.run_job", SpanKind.PRODUCER) in kinds
    assert ("execute/roomcast.run_job", SpanKind.CONSUMER) in kinds
    assert "job" in names
    broadcast = [s for s in trace if (s.attributes or {}).get("roomcast.event") == "job.completed"]
    assert {(s.attributes or {})["roomcast.room"] for s in broadcast} == {
        f"job:{job_id}", f"project:{project.id}"}
    # The object storage, the store and Redis, on the request's path and on the job's.
    job_span = next(s for s in trace if s.name == "job")
    under_job = _descendants(trace, job_span)
    read = next(s for s in under_job if s.name == "objects.open_stream")
    assert (read.attributes or {})["roomcast.object_key"].startswith("uploads/")
    assert "objects.put_stream" in {s.name for s in under_job}  # the Parquet dataset
    assert any((s.attributes or {}).get("db.system") == "mongodb" for s in under_job)
    assert any((s.attributes or {}).get("db.system") == "redis" for s in trace)
    under_request = _descendants(trace, request)
    assert any((s.attributes or {}).get("db.system") == "mongodb" for s in under_request)
    assert any(s.name.startswith("objects.") for s in under_request)

    trace_hex = f"{request.context.trace_id:032x}"
    logged = [json.loads(line) for line in lines.getvalue().splitlines()]
    access = [x for x in logged if x["logger"] == "roomcast.access"
              and x.get("route") == "/api/v1/projects/{project_id}/uploads"]
    assert access and access[0]["trace_id"] == trace_hex
    assert all("trace_id" in x for x in logged if x.get("request_id") == access[0]["request_id"])


def _descendants(spans: list[ReadableSpan], root: ReadableSpan) -> list[ReadableSpan]:
    assert root.context is not None
    found, frontier = [], {root.context.span_id}
    while frontier:
        children = [s for s in spans if s.parent is not None and s.parent.span_id in frontier]
        found.extend(children)
        frontier = {s.context.span_id for s in children if s.context is not None}
    return found


async def test_off_unless_the_endpoint_is_set(make_settings: Any, tmp_path: Path) -> None:
    settings = make_settings()
    assert Tracing.from_settings(settings, "roomcast-serve") is None
    services = build_services(settings)
    try:
        assert services.tracing is None
        app = create_asgi(services)
        # Nothing wraps the REST app, the storage or the emitter.
        assert type(services.ctx.objects).__name__ == "LocalObjectStorage"
        assert type(services.ctx.emitter).__name__ == "StreamEmitter"
        assert app is not None
    finally:
        await services.close()
    on = Tracing.from_settings(make_settings(otel_exporter_otlp_endpoint="http://127.0.0.1:1"),
                               "roomcast-serve")
    assert on is not None
    on.shutdown()
