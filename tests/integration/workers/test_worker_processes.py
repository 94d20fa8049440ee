"""The whole path across processes: `roomcast serve` and separate `roomcast worker`s sharing
Redis (broker, rooms), an S3 server and one document store; a Socket.IO client watches."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.integration.realtime.support import Sock
from tests.integration.workers.cluster import Cluster
from tests.integration.workers.cluster import job_events as _events
from tests.integration.workers.cluster import watch as _watch
from tests.integration.workers.test_pipeline_embedded import PNG, blobs_csv

pytestmark = pytest.mark.slow


async def test_upload_watch_analyse_and_fetch_the_picture(cluster: Cluster) -> None:
    await asyncio.to_thread(cluster.start_worker)
    sock = await _watch(cluster)
    try:
        async with httpx.AsyncClient(base_url=cluster.serve.url, headers=cluster.headers,
                                     timeout=30) as http:
            response = await http.post(f"/api/v1/projects/{cluster.project_id}/uploads",
                                       files={"file": ("points.csv", blobs_csv())})
            assert response.status_code == 202, response.text
            job_id = response.json()["job_id"]
            done = await sock.wait_for(lambda: _events(sock, "job.completed", job_id), 60)
            progress = _events(sock, "job.progress", job_id)
            assert {"downloading", "reading", "profiling"} <= {p["stage"] for p in progress}
            # Offsets of the project room: increasing, so a client can recover what it missed.
            offsets = [p["offset"] for p in progress]
            assert offsets == sorted(set(offsets))
            assert {p["room"] for p in progress} == {f"project:{cluster.project_id}"}
            dataset_id = done[0]["result"]["dataset_id"]
            dataset = (await http.get(f"/api/v1/datasets/{dataset_id}")).json()
            stats = {c["name"]: c["stats"] for c in dataset["columns"]}
            assert stats["x"]["count"] == 300 and stats["x"]["nulls"] == 0

            started = await http.post(f"/api/v1/datasets/{dataset_id}/analyses",
                                      json={"algorithm": "kmeans", "k": 3, "restarts": 2})
            assert started.status_code == 202, started.text
            analysis_id = started.json()["job_id"]
            finished = await sock.wait_for(
                lambda: _events(sock, "job.completed", analysis_id), 60)
            picture = finished[0]["result"]["pictures"][0]
            assert picture["presigned_url"]
            png = await http.get(picture["presigned_url"], headers={"Authorization": ""})
            assert png.status_code == 200 and png.content.startswith(PNG)
            redirect = await http.get(picture["url"])
            assert redirect.status_code == 307
            await sock.wait_for(lambda: [n for n in sock.named("notification")
                                         if n.get("data", {}).get("job_id") == analysis_id], 20)
            # A late joiner of the job's room reads where the job stands, and can replay it.
            late = await sock.join(f"job:{analysis_id}", since=0)
            assert late["state"]["status"] == "succeeded"
            assert late["state"]["result"]["k"] == 3
            replayed = [e for e in _events(sock, "job.completed", analysis_id)
                        if e["room"] == f"job:{analysis_id}"]
            assert len(replayed) == 1
    finally:
        await sock.close()


async def test_killed_worker_job_finishes_once_elsewhere_and_cancel_stops(cluster: Cluster) -> None:
    first = await asyncio.to_thread(cluster.start_worker)
    sock = await _watch(cluster)
    try:
        async with httpx.AsyncClient(base_url=cluster.serve.url, headers=cluster.headers,
                                     timeout=30) as http:
            response = await http.post(f"/api/v1/projects/{cluster.project_id}/uploads",
                                       files={"file": ("points.csv", blobs_csv())})
            job_id = response.json()["job_id"]
            await sock.wait_for(lambda: _events(sock, "job.progress", job_id), 60)
            # Mid-job: the worker has claimed it and reported a step.
            await sock.wait_for(lambda: [p for p in _events(sock, "job.progress", job_id)
                                         if p["stage"] == "reading"], 60)
            first.kill()
            await asyncio.to_thread(cluster.start_worker)
            await sock.wait_for(lambda: _events(sock, "job.completed", job_id), 60)
            job = (await http.get(f"/api/v1/jobs/{job_id}")).json()
            assert job["status"] == "succeeded"
            assert job["attempts"] == 2
            datasets = (await http.get(
                f"/api/v1/projects/{cluster.project_id}/datasets")).json()
            assert datasets["total"] == 1

            # Cancelling a running analysis on the worker process stops it at its next step.
            started = await http.post(f"/api/v1/datasets/{job_id}/analyses",
                                      json={"algorithm": "kmeans", "k": 3, "restarts": 50})
            analysis_id = started.json()["job_id"]
            await sock.wait_for(lambda: [p for p in _events(sock, "job.progress", analysis_id)
                                         if p["stage"] == "clustering"], 60)
            cancel = await http.post(f"/api/v1/jobs/{analysis_id}/cancel")
            assert cancel.status_code == 202, cancel.text
            await sock.wait_for(lambda: _events(sock, "job.cancelled", analysis_id), 60)
            cancelled = (await http.get(f"/api/v1/jobs/{analysis_id}")).json()
            assert cancelled["status"] == "cancelled" and cancelled["result"] is None
        # A join is a round trip through the server: events published before it have reached
        # the socket by the time it answers, so the count below sees them all.
        state = await sock.join(f"job:{job_id}")
        assert state["ok"], state
        assert len(_events(sock, "job.completed", job_id)) == 1
    finally:
        await sock.close()


async def _started(http: httpx.AsyncClient, cluster: Cluster, stage: str,
                   sock: Sock) -> str:
    """A job that will pass through `stage`: an ingestion, or an analysis of a fresh dataset."""
    response = await http.post(f"/api/v1/projects/{cluster.project_id}/uploads",
                               files={"file": ("points.csv", blobs_csv())})
    job_id: str = response.json()["job_id"]
    if stage != "training":
        return job_id
    await sock.wait_for(lambda: _events(sock, "job.completed", job_id), 60)
    started = await http.post(f"/api/v1/datasets/{job_id}/analyses", json={
        "algorithm": "random_forest", "target": "label", "n_estimators": 30})
    assert started.status_code == 202, started.text
    return str(started.json()["job_id"])


@pytest.mark.parametrize("stage", ["reading", "writing", "training"])
async def test_a_worker_killed_mid_job_leaves_it_finished_once_after_its_lease(
    cluster: Cluster, stage: str
) -> None:
    # Killed while reading the file, writing the Parquet, or fitting a forest. The stream's
    # own reclaim waits ten minutes here: only the lapsed lease (2 s in these settings) can
    # bring the job back within the test's bound.
    patient = {"JOB_RECLAIM_IDLE_MS": "600000"}
    first = await asyncio.to_thread(cluster.start_worker, 1, **patient)
    sock = await _watch(cluster)
    try:
        async with httpx.AsyncClient(base_url=cluster.serve.url, headers=cluster.headers,
                                     timeout=30) as http:
            job_id = await _started(http, cluster, stage, sock)
            await sock.wait_for(lambda: [p for p in _events(sock, "job.progress", job_id)
                                         if p["stage"] == stage], 60)
            first.kill()  # SIGKILL mid-job: its message stays pending, its lease lapses
            await asyncio.to_thread(cluster.start_worker, 1, **patient)
            await sock.wait_for(lambda: _events(sock, "job.completed", job_id), 90)
            job = (await http.get(f"/api/v1/jobs/{job_id}")).json()
            assert (job["status"], job["attempts"]) == ("succeeded", 2), job
            kind = "models" if stage == "training" else "datasets"
            listed = (await http.get(f"/api/v1/projects/{cluster.project_id}/{kind}")).json()
            assert [item["id"] for item in listed["items"]].count(job_id) == 1
        state = await sock.join(f"job:{job_id}")
        assert state["ok"], state
        assert len(_events(sock, "job.completed", job_id)) == 1
    finally:
        await sock.close()
