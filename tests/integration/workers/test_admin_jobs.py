"""Admins list every project's jobs by status and run a dead-lettered one again."""

from __future__ import annotations

import httpx

from core.models import Role
from core.store.jobs import JobDoc, JobStatus
from roomcast.factory import Services
from tests.integration.workers.conftest import Member, upload, wait_job
from tests.integration.workers.test_pipeline_embedded import blobs_csv
from tests.support.domain import make_user


async def test_failed_jobs_are_listed_and_a_retry_runs_one_again(
    client: httpx.AsyncClient, member: Member, services: Services
) -> None:
    admin = await make_user(services, "admin", role=Role.ADMIN)
    response = await upload(client, member, "points.csv", blobs_csv())
    done = await wait_job(client, member, response.json()["job_id"])
    assert done["status"] == "succeeded"
    # The same upload's ingestion, as the runner leaves a job whose every attempt failed.
    original = await services.ctx.stores.jobs.get(done["id"])
    assert original is not None
    dead = JobDoc(project_id=original.project_id, kind=original.kind,
                  created_by=original.created_by, upload_id=original.upload_id,
                  params=original.params, status=JobStatus.FAILED, stage="failed",
                  attempts=3, error_code="too_many_attempts",
                  error_message="no worker finished it in 3 attempts")
    await services.ctx.stores.jobs.create(dead)

    listed = await client.get("/api/v1/admin/jobs", params={"status": "failed"},
                              headers=admin.headers)
    assert listed.status_code == 200, listed.text
    assert [j["id"] for j in listed.json()["items"]] == [dead.id]
    everything = (await client.get("/api/v1/admin/jobs", headers=admin.headers)).json()
    assert everything["total"] == 2
    assert (await client.get("/api/v1/admin/jobs", params={"status": "lost"},
                             headers=admin.headers)).status_code == 422
    assert (await client.get("/api/v1/admin/jobs", headers=member.headers)).status_code == 403

    again = await client.post(f"/api/v1/admin/jobs/{dead.id}/retry", headers=admin.headers)
    assert again.status_code == 202, again.text
    assert again.headers["location"] == f"/api/v1/jobs/{dead.id}"
    assert again.json()["status"] == "queued" and again.json()["attempts"] == 0
    assert again.json()["error_code"] is None
    finished = await wait_job(client, member, dead.id)
    assert finished["status"] == "succeeded", finished
    assert finished["result"]["dataset_id"] != done["result"]["dataset_id"]

    twice = await client.post(f"/api/v1/admin/jobs/{dead.id}/retry", headers=admin.headers)
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "invalid_state"
    missing = await client.post("/api/v1/admin/jobs/nope/retry", headers=admin.headers)
    assert missing.status_code == 404
