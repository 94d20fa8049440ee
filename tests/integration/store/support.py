"""A store with something in every collection and in object storage, and a way to read all of
it back, for the tests that restart, export and import it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from api.app import create_app
from core.models import Role
from core.objects import ObjectStorage
from core.store.messages import NewMessage
from core.store.stores import Stores
from roomcast.factory import Services
from tests.support.domain import add_member, create_project, make_user

PASSWORD = "correct horse battery"
CSV = "x,y,kind\n" + "".join(f"{i % 7}.5,{(i * 3) % 11}.25,{'ab'[i % 2]}\n" for i in range(60))


def http_for(services: Services) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(services.ctx), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def wait_job(http: httpx.AsyncClient, job_id: str, headers: dict[str, str]
                   ) -> dict[str, Any]:
    for _ in range(600):
        job: dict[str, Any] = (await http.get(f"/api/v1/jobs/{job_id}", headers=headers)).json()
        if job["status"] not in ("queued", "running"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


async def populate(services: Services, *, jobs: bool = True) -> None:
    """Through the REST API where it reaches, the repositories elsewhere; `jobs`: also an
    upload, its dataset and an analysis with its picture (a few seconds more)."""
    stores = services.ctx.stores
    admin = await make_user(services, "Admin", role=Role.ADMIN)
    bob = await make_user(services, "Bob")
    async with http_for(services) as http:
        account = {"email": "ada@example.com", "name": "Ada", "password": PASSWORD}
        assert (await http.post("/api/v1/auth/register", json=account)).status_code == 201
        login = await http.post("/api/v1/auth/login", json={"email": account["email"],
                                                             "password": PASSWORD})
        assert login.status_code == 200, login.text
        project = await create_project(http, admin)
        await add_member(http, project, admin, bob)
        when = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        meeting = (await http.post(f"/api/v1/projects/{project}/meetings", headers=admin.headers,
                                   json={"title": "Kick-off", "scheduled_at": when})).json()["id"]
        task = {"title": "Plan", "assignee_id": bob.id, "due_date": "2030-07-16"}
        assert (await http.post(f"/api/v1/projects/{project}/tasks", json=task,
                                headers=admin.headers)).status_code == 201
        assert (await http.post("/api/v1/admin/api-keys", json={"name": "ci"},
                                headers=admin.headers)).status_code == 201
        if jobs:
            await _run_jobs(http, project, admin.headers)
    for n in range(3):
        await stores.messages.create(NewMessage(
            meeting_id=meeting, project_id=project, user_id=bob.id, user_name="Bob",
            text=f"message {n}", client_id=None))
    await stores.attendance.open(meeting, bob.id, "sid-1")


async def _run_jobs(http: httpx.AsyncClient, project: str, headers: dict[str, str]) -> None:
    upload = await http.post(f"/api/v1/projects/{project}/uploads", headers=headers,
                             files={"file": ("points.csv", CSV.encode(), "text/csv")})
    assert upload.status_code == 202, upload.text
    ingest = await wait_job(http, upload.json()["job_id"], headers)
    assert ingest["status"] == "succeeded", ingest
    dataset = ingest["result"]["dataset_id"]
    started = await http.post(f"/api/v1/datasets/{dataset}/analyses", headers=headers,
                              json={"algorithm": "kmeans", "k": 2})
    assert started.status_code == 202, started.text
    analysis = await wait_job(http, started.json()["job_id"], headers)
    assert analysis["status"] == "succeeded", analysis


async def contents(stores: Stores, objects: ObjectStorage) -> dict[str, Any]:
    """Every document of every collection, and every object's bytes."""
    found: dict[str, Any] = {}
    for name in sorted(await stores.db.list_collection_names()):
        found[name] = [doc async for doc in stores.db[name].find({}).sort([("_id", 1)])]
    found["objects"] = {key: await objects.get_bytes(key) for key in await objects.keys()}
    return found
