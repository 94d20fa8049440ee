"""Charts through real processes: `roomcast serve`, a `roomcast worker`, Redis, S3 and a shared
document store, watched by a Socket.IO client in the project room."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.integration.workers.cluster import Cluster, job_events, watch
from tests.integration.workers.test_pipeline_embedded import PNG, blobs_csv

pytestmark = pytest.mark.slow


async def ingested(cluster: Cluster, http: httpx.AsyncClient, sock: Any) -> str:
    uploaded = await http.post(f"/api/v1/projects/{cluster.project_id}/uploads",
                               files={"file": ("points.csv", blobs_csv(300))})
    job_id = uploaded.json()["job_id"]
    done = await sock.wait_for(lambda: job_events(sock, "job.completed", job_id), 60)
    return str(done[0]["result"]["dataset_id"])


async def test_a_chart_job_end_to_end_with_its_png_svg_and_spec(cluster: Cluster) -> None:
    await asyncio.to_thread(cluster.start_worker)
    sock = await watch(cluster)
    try:
        async with httpx.AsyncClient(base_url=cluster.serve.url, headers=cluster.headers,
                                     timeout=30) as http:
            dataset_id = await ingested(cluster, http, sock)
            spec = {"kind": "histogram", "x": "x", "bins": 12, "group_by": "label"}
            started = await http.post(f"/api/v1/datasets/{dataset_id}/visualizations",
                                      json=spec)
            assert started.status_code == 202, started.text
            job_id, chart_id = started.json()["job_id"], started.json()["id"]
            done = await sock.wait_for(lambda: job_events(sock, "job.completed", job_id), 60)
            stages = [e["stage"] for e in job_events(sock, "job.progress", job_id)]
            assert stages[0] == "queued"
            assert {"loading", "aggregating", "rendering", "saving"} <= set(stages)
            assert done[0]["kind"] == "visualization"
            assert done[0]["result"]["visualization_id"] == chart_id
            created = [e for e in sock.named("visualization.created")
                       if e["visualization"]["id"] == chart_id]
            assert created and created[0]["room"] == f"project:{cluster.project_id}"

            chart = (await http.get(f"/api/v1/visualizations/{chart_id}")).json()
            assert chart["status"] == "succeeded" and chart["rows"] == 300
            values = chart["vega"]["data"]["values"]
            assert sum(v["count"] for v in values) == 300
            assert {v["group"] for v in values} == {"a", "b", "c"}
            for kind, magic in (("png", PNG), ("svg", b"<svg")):
                redirect = await http.get(chart[f"{kind}_url"])
                assert redirect.status_code == 307  # S3: a presigned URL
                image = await http.get(redirect.headers["location"],
                                       headers={"Authorization": ""})
                assert image.status_code == 200 and magic in image.content[:400]

            again = await http.post(f"/api/v1/datasets/{dataset_id}/visualizations",
                                    json=spec)
            assert again.status_code == 200 and again.json()["id"] == chart_id
            assert again.json()["cached"] is True
    finally:
        await sock.close()


async def test_a_running_chart_job_is_cancelled_and_leaves_no_images(cluster: Cluster) -> None:
    # Each step of this worker's jobs waits 1.5 s first, so the cancel lands mid-job.
    await asyncio.to_thread(cluster.start_worker, 1, JOB_STEP_DELAY_MS="1500")
    sock = await watch(cluster)
    try:
        async with httpx.AsyncClient(base_url=cluster.serve.url, headers=cluster.headers,
                                     timeout=30) as http:
            dataset_id = await ingested(cluster, http, sock)
            started = await http.post(f"/api/v1/datasets/{dataset_id}/visualizations",
                                      json={"kind": "scatter", "x": "x", "y": "y"})
            job_id, chart_id = started.json()["job_id"], started.json()["id"]
            await sock.wait_for(lambda: [e for e in job_events(sock, "job.progress", job_id)
                                         if e["stage"] == "loading"], 60)
            cancel = await http.post(f"/api/v1/jobs/{job_id}/cancel")
            assert cancel.status_code == 202, cancel.text
            await sock.wait_for(lambda: job_events(sock, "job.cancelled", job_id), 30)
            chart = (await http.get(f"/api/v1/visualizations/{chart_id}")).json()
            assert chart["status"] == "cancelled" and chart["vega"] is None
            assert chart["png_url"] is None
            assert (await http.get(f"/api/v1/visualizations/{chart_id}/image/png")
                    ).status_code == 404
            assert not job_events(sock, "job.completed", job_id)
    finally:
        await sock.close()


async def test_deleting_the_dataset_cancels_a_queued_chart(cluster: Cluster) -> None:
    worker = await asyncio.to_thread(cluster.start_worker)
    sock = await watch(cluster)
    try:
        async with httpx.AsyncClient(base_url=cluster.serve.url, headers=cluster.headers,
                                     timeout=30) as http:
            dataset_id = await ingested(cluster, http, sock)
            await asyncio.to_thread(worker.stop)  # nobody runs the chart: it stays queued
            started = await http.post(f"/api/v1/datasets/{dataset_id}/visualizations",
                                      json={"kind": "bar", "x": "label"})
            job_id, chart_id = started.json()["job_id"], started.json()["id"]
            assert (await http.delete(f"/api/v1/datasets/{dataset_id}")).status_code == 204
            cancelled = await sock.wait_for(lambda: job_events(sock, "job.cancelled", job_id))
            assert cancelled[0]["status"] == "cancelled"
            deleted = await sock.wait_for(lambda: sock.named("dataset.deleted"))
            assert deleted[0]["dataset_id"] == dataset_id
            assert (await http.get(f"/api/v1/visualizations/{chart_id}")).status_code == 404
            job = (await http.get(f"/api/v1/jobs/{job_id}")).json()
            assert job["status"] == "cancelled"
    finally:
        await sock.close()
