"""Fixtures for the pipeline tests: a member with a project, files, and job waiting."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from pymongo import MongoClient

from roomcast.factory import Services, build_services
from tests.integration.workers.cluster import Cluster, cluster_environment, running_cluster
from tests.support.domain import Caller, RecordingEmitter, make_user
from tests.support.services import ROOT, RedisServer, S3Server, free_port, wait_until


@dataclass
class Member:
    caller: Caller
    project_id: str

    @property
    def headers(self) -> dict[str, str]:
        return self.caller.headers


@pytest.fixture
async def recorder(services: Services) -> RecordingEmitter:
    """Records what the in-process jobs emit (and still delivers it)."""
    assert services.jobs is not None and services.jobs.deps is not None
    recording = RecordingEmitter(services.jobs.deps.emitter)
    services.jobs.deps = dataclasses.replace(services.jobs.deps, emitter=recording)
    return recording


@pytest.fixture
async def member(services: Services) -> AsyncIterator[Member]:
    caller = await make_user(services, "uploader")
    project = await services.ctx.stores.projects.create(name="Data", owner_id=caller.id)
    yield Member(caller, project.id)


async def upload(
    http: httpx.AsyncClient, member: Member, name: str, content: bytes
) -> httpx.Response:
    return await http.post(f"/api/v1/projects/{member.project_id}/uploads",
                           files={"file": (name, content)}, headers=member.headers)


async def wait_job(
    http: httpx.AsyncClient, member: Member, job_id: str, *, until: tuple[str, ...] = (
        "succeeded", "failed", "cancelled"), bound: float = 60.0,
) -> dict[str, Any]:
    """Poll the job until its status is one of `until` (bounded, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while True:
        response = await http.get(f"/api/v1/jobs/{job_id}", headers=member.headers)
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["status"] in until:
            return job
        if loop.time() > deadline:
            raise AssertionError(f"job stayed {job['status']} at {job['stage']}: {job}")
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def mongo_wire_url() -> Iterator[str]:
    """A document store that several processes share (see mongo_wire.py)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.workers.mongo_wire", "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=2000"

    def ping() -> bool:
        with MongoClient(url) as client:
            return bool(client.admin.command("ping")["ok"])

    try:
        wait_until(ping, what="the shared document store")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def cluster_env(redis_proc: RedisServer, s3_proc: S3Server, mongo_wire_url: str) -> dict[str, str]:
    return cluster_environment(redis_proc, s3_proc, mongo_wire_url)


@pytest.fixture
async def cluster(cluster_env: dict[str, str], tmp_path: Path) -> AsyncIterator[Cluster]:
    async for found in running_cluster(cluster_env, tmp_path):
        yield found


@pytest.fixture(params=["local", "s3"])
async def storage_services(
    request: pytest.FixtureRequest, make_settings: Any
) -> AsyncIterator[Services]:
    """Started services on each object storage: DATA_DIR, and S3 (a moto server)."""
    overrides: dict[str, Any] = {}
    if request.param == "s3":
        s3: S3Server = request.getfixturevalue("s3_proc")
        overrides = {"s3_endpoint": s3.endpoint, "s3_access_key": s3.access_key,
                     "s3_secret_key": s3.secret_key, "s3_bucket": f"u-{uuid4().hex[:12]}"}
    built = build_services(make_settings(**overrides))
    await built.start()
    try:
        yield built
    finally:
        await built.close()
