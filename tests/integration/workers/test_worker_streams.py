"""The Redis job stream with real `roomcast worker` processes: jobs longer than the reclaim
timeout, and the stream's length."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from tests.integration.realtime.support import Sock
from tests.integration.workers.cluster import Cluster, job_events, watch
from tests.integration.workers.test_pipeline_embedded import blobs_csv
from tests.integration.workers.test_runner import noise_csv
from workers.broker import GROUP, QUEUE

pytestmark = pytest.mark.slow


async def _ingest(http: httpx.AsyncClient, cluster: Cluster, sock: Sock,
                  content: bytes | None = None) -> str:
    response = await http.post(f"/api/v1/projects/{cluster.project_id}/uploads",
                               files={"file": ("points.csv", content or blobs_csv())})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    await sock.wait_for(lambda: job_events(sock, "job.completed", job_id), 60)
    return job_id


async def _pending(cluster: Cluster) -> list[dict[str, Any]]:
    async with aioredis.Redis.from_url(cluster.env["REDIS_URL"]) as redis:
        entries: list[dict[str, Any]] = await redis.xpending_range(QUEUE, GROUP, "-", "+", 100)
    return entries


async def test_a_job_longer_than_the_reclaim_timeout_keeps_one_delivery_and_one_slot(
    cluster: Cluster,
) -> None:
    # Every step pauses 0.5 s, and a forest reports at each level of its trees, grown deep on
    # labels of pure noise: the forest outlives the reclaim timeout however fast it fits.
    # The reclaim timeout is the shortest the settings take, so the wait past it is short too.
    await asyncio.to_thread(cluster.start_worker, 2, JOB_RECLAIM_IDLE_MS="1000",
                            JOB_STEP_DELAY_MS="500")
    sock = await watch(cluster)
    try:
        async with httpx.AsyncClient(base_url=cluster.serve.url, headers=cluster.headers,
                                     timeout=30) as http:
            dataset_id = await _ingest(http, cluster, sock, noise_csv(2000))
            started = await http.post(f"/api/v1/datasets/{dataset_id}/analyses", json={
                "algorithm": "random_forest", "target": "label", "n_estimators": 60})
            assert started.status_code == 202, started.text
            forest_id = started.json()["job_id"]
            await sock.wait_for(lambda: [p for p in job_events(sock, "job.progress", forest_id)
                                         if p["stage"] == "training" and p["progress"] > 10], 60)
            # Outlive the reclaim timeout twice over: the stock broker would have handed the
            # forest's message out again by now, to this very worker.
            await asyncio.sleep(2.5)
            pending = await _pending(cluster)
            assert [p["times_delivered"] for p in pending] == [1], pending

            # The second slot is free: another job runs beside the long one, not after it.
            second_id = await _ingest(http, cluster, sock)
            forest = (await http.get(f"/api/v1/jobs/{forest_id}")).json()
            assert forest["status"] == "running", forest
            second = (await http.get(f"/api/v1/jobs/{second_id}")).json()
            assert second["status"] == "succeeded"

            await sock.wait_for(lambda: job_events(sock, "job.completed", forest_id), 120)
            forest = (await http.get(f"/api/v1/jobs/{forest_id}")).json()
            assert (forest["status"], forest["attempts"]) == ("succeeded", 1)
        # A join is a round trip through the server: every event published before has arrived.
        assert (await sock.join(f"job:{forest_id}"))["ok"]
        assert len(job_events(sock, "job.completed", forest_id)) == 1
    finally:
        await sock.close()
