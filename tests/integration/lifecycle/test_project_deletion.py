"""Deleting a project leaves nothing of it: every collection and every stored object is
counted before and after, on local storage and on S3 (a moto server), with a second project
that keeps everything it had."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from core.store.messages import NewMessage
from roomcast.factory import Services
from tests.integration.documents.support import API, pdf, png, put, stored_keys
from tests.integration.test_meetings import new_meeting
from tests.integration.workers.conftest import Member, upload, wait_job
from tests.integration.workers.test_pipeline_embedded import blobs_csv
from tests.support.domain import Caller, add_member, create_project, make_user, record_events


@pytest.fixture
async def http(storage_services: Services) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(storage_services.ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def fill(http: httpx.AsyncClient, services: Services, head: Caller, other: Caller,
               name: str) -> str:
    """A project with something in every collection a project has, and its objects."""
    project_id = await create_project(http, head, name)
    await add_member(http, project_id, head, other)
    member = Member(head, project_id)
    meeting = await new_meeting(http, project_id, head)
    for text in ("hello", "@" + other.user.name):
        await services.ctx.stores.messages.create(NewMessage(
            meeting_id=str(meeting["id"]), project_id=project_id, user_id=head.id,
            user_name=head.user.name, text=text, client_id=None))
    await services.ctx.stores.attendance.open(str(meeting["id"]), other.id, "sid-1")
    task = await http.post(f"{API}/projects/{project_id}/tasks", headers=head.headers, json={
        "title": "Launch", "assignee_id": other.id, "due_date": "2030-07-16"})
    assert task.status_code == 201, task.text
    invited = await http.post(f"{API}/projects/{project_id}/invitations", headers=head.headers,
                              json={"email": f"guest-{name}@example.com"})
    assert invited.status_code == 201, invited.text
    assert (await http.put(f"{API}/projects/{project_id}/mute", headers=other.headers)
            ).status_code == 200
    ingest = (await upload(http, member, "points.csv", blobs_csv(60))).json()["job_id"]
    dataset_id = (await wait_job(http, member, ingest))["result"]["dataset_id"]
    analysis = await http.post(f"{API}/datasets/{dataset_id}/analyses", headers=head.headers,
                               json={"algorithm": "kmeans", "k": 3, "restarts": 1})
    assert (await wait_job(http, member, analysis.json()["job_id"]))["status"] == "succeeded"
    # A record edited and one added; a chart with its images.
    edited = await http.patch(f"{API}/datasets/{dataset_id}/records/0", headers={
        **head.headers, "If-Match": '"1"'}, json={"values": {"label": "edited"}})
    assert edited.status_code == 200, edited.text
    assert (await http.post(f"{API}/datasets/{dataset_id}/records", headers=head.headers,
                            json={"values": {"x": 1.0}})).status_code == 201
    chart = await http.post(f"{API}/datasets/{dataset_id}/visualizations",
                            headers=head.headers, json={"kind": "histogram", "x": "x"})
    assert (await wait_job(http, member, chart.json()["job_id"]))["status"] == "succeeded"
    files = (("photo.png", png()), ("paper.pdf", pdf()), ("paper.pdf", pdf(300, 300)))
    for doc_name, content in files:
        made = (await put(http, project_id, head.headers, doc_name, content)).json()
        await wait_job(http, member, made["version"]["preview"]["job_id"])
    return project_id


async def census(services: Services) -> dict[str, list[str]]:
    """Every document of every collection, as text."""
    db = services.ctx.stores.db
    found: dict[str, list[str]] = {}
    for name in sorted(await db.list_collection_names()):
        found[name] = [json.dumps(doc, default=str, sort_keys=True)
                       async for doc in db[name].find({})]
    return found


async def test_nothing_of_a_deleted_project_is_left(
    storage_services: Services, http: httpx.AsyncClient
) -> None:
    services = storage_services
    head, other = await make_user(services, "Ada"), await make_user(services, "Bob")
    kept = await fill(http, services, head, other, "Kept")
    before, keys_before = await census(services), await stored_keys(services)
    doomed = await fill(http, services, head, other, "Doomed")
    filled = await census(services)
    assert all(any(doomed in doc for doc in filled.get(name, [])) for name in (
        "meetings", "meeting_messages", "tasks", "reminders", "invitations", "notifications",
        "preferences", "uploads", "datasets", "models", "jobs", "documents",
        "document_versions", "storage_usage", "records", "visualizations"))
    assert len(await stored_keys(services)) > len(keys_before)

    events = record_events(services)
    assert services.jobs is not None and services.jobs.deps is not None
    services.jobs.deps = dataclasses.replace(services.jobs.deps, emitter=events)
    deleted = await http.delete(f"{API}/projects/{doomed}", headers=head.headers)
    assert deleted.status_code == 202, deleted.text
    job = await wait_job(http, Member(head, doomed), deleted.json()["job_id"])
    assert (job["status"], job["kind"]) == ("succeeded", "project_deletion"), job
    assert job["result"]["removed"]["documents"] == 2

    after = await census(services)
    left = {name: [doc for doc in docs if doomed in doc] for name, docs in after.items()}
    assert left.pop("jobs") == [d for d in after["jobs"] if deleted.json()["job_id"] in d]
    assert {name: docs for name, docs in left.items() if docs} == {}
    assert await stored_keys(services) == keys_before
    unchanged = set(before) - {"jobs", "mail_outbox", "audit_events", "preferences"}
    assert {n: len(after.get(n, [])) for n in unchanged} == {n: len(before[n]) for n in unchanged}
    assert len(after["jobs"]) == len(before["jobs"]) + 1
    assert (await http.get(f"{API}/projects/{kept}/documents", headers=head.headers)
            ).json()["total"] == 2

    told = [(room, event) for room, event, _ in events.of("emit") if event == "project.deleted"]
    assert sorted(told) == sorted([(f"project:{doomed}", "project.deleted"),
                                   (f"user:{head.id}", "project.deleted"),
                                   (f"user:{other.id}", "project.deleted")])
    assert sorted(events.of("revoked")) == sorted([(head.id, doomed), (other.id, doomed)])
    def progress() -> list[dict[str, Any]]:
        return [data for room, event, data in events.of("emit")
                if room == f"user:{head.id}" and data.get("job_id") == job["id"]]

    # The job is stored as succeeded before its final event is published: wait for that.
    async def final() -> list[dict[str, Any]]:
        while True:
            seen = progress()
            if seen and seen[-1]["status"] == "succeeded":
                return seen
            await asyncio.sleep(0.02)

    assert (await asyncio.wait_for(final(), 30))[0]["stage"] == "queued"
    # Only the head who deleted it follows the job.
    assert (await http.get(f"{API}/jobs/{job['id']}", headers=other.headers)).status_code == 404


async def test_deleting_a_dataset_removes_its_file(
    storage_services: Services, http: httpx.AsyncClient
) -> None:
    head, other = await make_user(storage_services, "Ada"), await make_user(storage_services)
    project_id = await create_project(http, head)
    await add_member(http, project_id, head, other)
    member = Member(head, project_id)
    ingest = (await upload(http, member, "points.csv", blobs_csv(30))).json()["job_id"]
    dataset_id = (await wait_job(http, member, ingest))["result"]["dataset_id"]
    dataset = await storage_services.ctx.stores.datasets.get(dataset_id)
    assert dataset is not None and dataset.object_key in await stored_keys(storage_services)
    url = f"{API}/datasets/{dataset_id}"
    events = record_events(storage_services)
    assert (await http.delete(url, headers=other.headers)).status_code == 403
    assert (await http.delete(url, headers=head.headers)).status_code == 204
    assert [(room, event, data["dataset_id"]) for room, event, data in events.of("emit")] == [
        (f"project:{project_id}", "dataset.deleted", dataset_id)]
    assert (await http.get(url, headers=head.headers)).status_code == 404
    assert dataset.object_key not in await stored_keys(storage_services)
    assert (await http.delete(url, headers=head.headers)).status_code == 404

