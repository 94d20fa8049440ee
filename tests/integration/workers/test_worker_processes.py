"""The whole path across processes: `roomcast serve` and separate `roomcast worker`s sharing
Redis (broker, rooms), an S3 server and one document store; a Socket.IO client watches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from core.settings import Settings
from core.store.database import close_mongo, open_mongo
from core.store.stores import Stores
from core.tokens import TokenService
from tests.integration.realtime.support import Sock
from tests.integration.workers.test_pipeline_embedded import PNG, blobs_csv
from tests.support.services import (
    RedisServer,
    S3Server,
    ServerProcess,
    start_roomcast,
    wait_until,
)

pytestmark = pytest.mark.slow


@dataclass
class Cluster:
    env: dict[str, str]
    serve: ServerProcess
    log_dir: Path
    stores: Stores
    headers: dict[str, str]
    token: str
    user_id: str
    project_id: str
    workers: list[ServerProcess]

    def start_worker(self) -> ServerProcess:
        worker = start_roomcast(self.env, self.log_dir, command="worker",
                                args=["--concurrency", "1"])
        self.workers.append(worker)
        wait_until(lambda: _ready(worker), timeout=30, what="roomcast worker")
        return worker


def _ready(worker: ServerProcess) -> bool:
    if worker.proc.poll() is not None:
        raise RuntimeError(f"roomcast worker exited:\n{worker.log()}")
    return "worker ready" in worker.log()


_db_counter = iter(range(3, 16))


@pytest.fixture
def cluster_env(
    redis_proc: RedisServer, s3_proc: S3Server, mongo_wire_url: str
) -> Iterator[dict[str, str]]:
    # Own Redis database: the job stream of one test is not another's.
    redis_url = f"redis://127.0.0.1:{redis_proc.port}/{next(_db_counter)}"
    yield {
        "REDIS_URL": redis_url, "MONGO_URI": mongo_wire_url, "MONGO_DB": f"w{uuid4().hex}",
        "S3_ENDPOINT": s3_proc.endpoint, "S3_ACCESS_KEY": s3_proc.access_key,
        "S3_SECRET_KEY": s3_proc.secret_key, "S3_BUCKET": f"rc-{uuid4().hex[:12]}",
        "S3_SECURE": "false", "LOG_JSON": "false", "JOB_LEASE_SECONDS": "2",
        "JOB_RECLAIM_IDLE_MS": "1500", "JOB_STEP_DELAY_MS": "150",
        "RATE_LIMIT_USER_PER_MINUTE": "100000", "RATE_LIMIT_IP_PER_MINUTE": "100000",
    }


@pytest.fixture
async def cluster(cluster_env: dict[str, str], tmp_path: Path) -> AsyncIterator[Cluster]:
    settings = Settings(env="test", mongo_uri=cluster_env["MONGO_URI"],  # type: ignore[call-arg]
                        mongo_db=cluster_env["MONGO_DB"], _env_file=None)
    client, db = open_mongo(settings)
    stores = Stores.over(db)
    user = await stores.users.create(email="watcher@example.com", name="W", password_hash=None)
    project = await stores.projects.create(name="Lab", owner_id=user.id)
    token = TokenService(settings).issue(sub=user.id, role=user.role, typ="access").token
    serve = await asyncio.to_thread(start_roomcast, cluster_env, tmp_path)
    found = Cluster(cluster_env, serve, tmp_path, stores, {"Authorization": f"Bearer {token}"},
                    token, user.id, project.id, [])
    try:
        yield found
    finally:
        for process in [*found.workers, serve]:
            process.stop()
        await close_mongo(client)


async def _watch(cluster: Cluster) -> Sock:
    sock = await Sock().connect(cluster.serve.url, cluster.token)
    ack = await sock.join(f"project:{cluster.project_id}")
    assert ack["ok"], ack
    return sock


def _events(sock: Sock, event: str, job_id: str) -> list[dict[str, Any]]:
    return [data for data in sock.named(event) if data.get("job_id") == job_id]


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
