"""Worker and queue metrics: a real `roomcast worker` serves /metrics on its own port, and the
counts move as jobs run; on the embedded default the same series are on `roomcast serve`'s."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from roomcast.factory import Services
from tests.integration.workers.cluster import Cluster
from tests.integration.workers.cluster import job_events as _events
from tests.integration.workers.cluster import watch as _watch
from tests.integration.workers.conftest import Member, upload, wait_job
from tests.integration.workers.test_pipeline_embedded import blobs_csv
from tests.support.metrics import Scrape, wait_for_scrape, wait_for_value
from tests.support.services import free_port

pytestmark = pytest.mark.slow


async def test_worker_metrics_move_with_jobs_and_the_queue(cluster: Cluster) -> None:
    port = free_port()
    await asyncio.to_thread(cluster.start_worker, 1, WORKER_METRICS_PORT=str(port),
                            METRICS_SAMPLE_SECONDS="0.1", JOB_STEP_DELAY_MS="400")
    url = f"http://127.0.0.1:{port}/metrics"
    before = await asyncio.to_thread(wait_for_value, url, "roomcast_ready", lambda v: v == 1)
    assert before.value("roomcast_jobs_started_total", kind="ingest") == 0
    assert before.value("roomcast_dependency_up", dependency="redis") == 1
    assert before.value("roomcast_queue_length", queue="roomcast:jobs") == 0
    sock = await _watch(cluster)
    try:
        async with httpx.AsyncClient(base_url=cluster.serve.url, headers=cluster.headers,
                                     timeout=30) as http:
            # One slot, two jobs: the second waits in the stream while the first runs.
            job_ids = []
            for _ in range(2):
                response = await http.post(f"/api/v1/projects/{cluster.project_id}/uploads",
                                           files={"file": ("points.csv", blobs_csv())})
                assert response.status_code == 202, response.text
                job_ids.append(response.json()["job_id"])
            # One scrape that sees the first job running and the second waiting, in the stream
            # too (its length is sampled every 0.1 s, so a scrape may carry the sample from
            # before the uploads: the wait is for one that does not).
            await asyncio.to_thread(
                wait_for_scrape, url,
                lambda s: (s.value("roomcast_jobs_in_flight", kind="ingest") == 1
                           and s.value("roomcast_jobs_queued") == 1
                           and s.value("roomcast_queue_length", queue="roomcast:jobs") >= 1),
                what="one job running and one queued, in the stream too")
            for job_id in job_ids:
                await sock.wait_for(lambda job_id=job_id: _events(sock, "job.completed", job_id),
                                    90)
    finally:
        await sock.close()
    # A job's end is counted when it is stored; the task's, once its announcements are out.
    after = await asyncio.to_thread(
        wait_for_scrape, url,
        lambda s: (s.value("roomcast_jobs_finished_total", kind="ingest",
                           status="succeeded") == 2
                   and s.value("roomcast_tasks_total", task="roomcast.run_job") == 2
                   and s.value("roomcast_jobs_in_flight", kind="ingest") == 0),
        what="both jobs and their tasks ended")
    assert after.value("roomcast_jobs_started_total", kind="ingest") == 2
    assert after.value("roomcast_job_duration_seconds_count", kind="ingest") == 2
    for stage in ("downloading", "reading", "profiling"):
        assert after.value("roomcast_job_stage_duration_seconds_count", kind="ingest",
                           stage=stage) == 2, stage
    assert after.value("roomcast_tasks_total", task="roomcast.run_job", result="ok") == 2
    assert after.value("roomcast_jobs_dead_lettered_total") == 0
    # Acknowledged after the end is announced: the stream drains a moment later.
    drained = await asyncio.to_thread(wait_for_value, url, "roomcast_queue_pending",
                                      lambda v: v == 0, queue="roomcast:jobs")
    assert drained.value("roomcast_jobs_queued") == 0


async def test_embedded_serve_exports_the_same_series(
    client: httpx.AsyncClient, member: Member, services: Services
) -> None:
    response = await upload(client, member, "points.csv", blobs_csv())
    assert response.status_code == 202, response.text
    job = await wait_job(client, member, response.json()["job_id"])
    assert job["status"] == "succeeded", job
    await client.post("/api/v1/auth/password-reset", json={"email": member.caller.user.email})

    async def scrape() -> Scrape:
        return Scrape((await client.get("/metrics")).text)

    def settled(found: Scrape) -> bool:
        return (found.value("roomcast_mail_sent_total") >= 1
                and found.value("roomcast_tasks_total", task="roomcast.run_job") == 1)

    deadline = asyncio.get_running_loop().time() + 30
    while not settled(found := await scrape()):
        assert asyncio.get_running_loop().time() < deadline, "no mail sent or task ended"
        await asyncio.sleep(0.05)
    assert found.value("roomcast_jobs_finished_total", kind="ingest", status="succeeded") == 1
    assert found.value("roomcast_job_duration_seconds_count", kind="ingest") == 1
    assert found.value("roomcast_tasks_total", task="roomcast.run_job", result="ok") == 1
    assert "roomcast_jobs_queued" in found.names()
    assert "roomcast_http_requests_total" in found.names()
    assert found.value("roomcast_mail_failed_total") == 0
