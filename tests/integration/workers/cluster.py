"""`roomcast serve` plus separate `roomcast worker`s sharing Redis (broker, rooms), an S3
server and one document store, for the tests that cross processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from core.settings import Settings
from core.store.database import close_mongo, open_mongo
from core.store.stores import Stores
from core.tokens import TokenService
from tests.integration.realtime.support import Sock
from tests.support.services import (
    REDIS_DATABASES,
    RedisServer,
    S3Server,
    ServerProcess,
    start_roomcast,
    wait_until,
)


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

    def start_worker(self, concurrency: int = 1, **env: str) -> ServerProcess:
        worker = start_roomcast({**self.env, **env}, self.log_dir, command="worker",
                                args=["--concurrency", str(concurrency)])
        self.workers.append(worker)
        wait_until(lambda: _ready(worker), timeout=30, what="roomcast worker")
        return worker


def _ready(worker: ServerProcess) -> bool:
    if worker.proc.poll() is not None:
        raise RuntimeError(f"roomcast worker exited:\n{worker.log()}")
    return "worker ready" in worker.log()


_db_counter = iter(range(3, REDIS_DATABASES))


def cluster_environment(redis_proc: RedisServer, s3_proc: S3Server, mongo_url: str
                        ) -> dict[str, str]:
    # Own Redis database: the job stream of one test is not another's.
    db = next(_db_counter, None)
    if db is None:
        pytest.fail(f"every one of the test redis-server's {REDIS_DATABASES} databases is taken: "
                    "raise REDIS_DATABASES in tests/support/services.py")
    redis_url = f"redis://127.0.0.1:{redis_proc.port}/{db}"
    return {
        "REDIS_URL": redis_url, "MONGO_URI": mongo_url, "MONGO_DB": f"w{uuid4().hex}",
        "S3_ENDPOINT": s3_proc.endpoint, "S3_ACCESS_KEY": s3_proc.access_key,
        "S3_SECRET_KEY": s3_proc.secret_key, "S3_BUCKET": f"rc-{uuid4().hex[:12]}",
        "S3_SECURE": "false", "LOG_JSON": "false", "JOB_LEASE_SECONDS": "2",
        "JOB_RECLAIM_IDLE_MS": "1500", "JOB_STEP_DELAY_MS": "150",
        "RATE_LIMIT_USER_PER_MINUTE": "100000", "RATE_LIMIT_IP_PER_MINUTE": "100000",
        # Workers of parallel tests would compete for the default metrics port.
        "WORKER_METRICS_PORT": "0",
    }


async def running_cluster(env: dict[str, str], log_dir: Path) -> AsyncIterator[Cluster]:
    settings = Settings(env="test", mongo_uri=env["MONGO_URI"],  # type: ignore[call-arg]
                        mongo_db=env["MONGO_DB"], _env_file=None)
    client, db = open_mongo(settings)
    stores = Stores.over(db)
    user = await stores.users.create(email="watcher@example.com", name="W", password_hash=None)
    project = await stores.projects.create(name="Lab", owner_id=user.id)
    token = TokenService(settings).issue(sub=user.id, role=user.role, typ="access").token
    serve = await asyncio.to_thread(start_roomcast, env, log_dir)
    found = Cluster(env, serve, log_dir, stores, {"Authorization": f"Bearer {token}"},
                    token, user.id, project.id, [])
    try:
        yield found
    finally:
        for process in [*found.workers, serve]:
            process.stop()
        await close_mongo(client)


async def watch(cluster: Cluster) -> Sock:
    """A Socket.IO client in the cluster's project room."""
    sock = await Sock().connect(cluster.serve.url, cluster.token)
    ack = await sock.join(f"project:{cluster.project_id}")
    assert ack["ok"], ack
    return sock


def job_events(sock: Sock, event: str, job_id: str) -> list[dict[str, Any]]:
    return [data for data in sock.named(event) if data.get("job_id") == job_id]


async def completed(sock: Sock, job_id: str, within: float = 90) -> dict[str, Any]:
    """The job's `job.completed` event, once it comes; fails on its `job.failed`."""
    done = await sock.wait_for(lambda: job_events(sock, "job.completed", job_id)
                               or job_events(sock, "job.failed", job_id), within)
    event: dict[str, Any] = done[0]
    assert event["status"] == "succeeded", event
    return event
