"""What the rooms hear of a job: one "queued" first, and the public state on joining."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx

from realtime.rooms import RoomAuthorizer
from roomcast.factory import Services
from tests.integration.workers.conftest import Member, upload, wait_job
from tests.integration.workers.test_pipeline_embedded import blobs_csv
from tests.support.domain import RecordingEmitter
from tests.support.services import eventually


async def test_one_queued_event_goes_out_before_the_workers_own(
    services: Services, client: httpx.AsyncClient, member: Member
) -> None:
    assert services.jobs is not None and services.jobs.deps is not None
    # The API and the in-process worker publish through one recorder: one order for both.
    recording = RecordingEmitter(services.ctx.emitter)
    services.ctx.emitter = recording
    services.jobs.deps = dataclasses.replace(services.jobs.deps, emitter=recording)
    job_id = (await upload(client, member, "p.csv", blobs_csv(30))).json()["job_id"]
    await wait_job(client, member, job_id)

    def emitted() -> list[tuple[str, Any]]:
        return [(event, data) for room, event, data in recording.of("emit")
                if room == f"job:{job_id}"]

    # The final event is published once the job's end is stored, so it may follow the status
    # the REST API answers: wait for it, not only for the status.
    await eventually(lambda: [e for e, _ in emitted() if e == "job.completed"],
                     what="job.completed in the job's room")
    events = emitted()
    progress = [(data["status"], data["stage"]) for event, data in events
                if event == "job.progress"]
    assert progress[0] == ("queued", "queued")
    assert [stage for _, stage in progress].count("queued") == 1
    assert progress[1][0] == "running"
    assert [event for event, _ in events].count("job.completed") == 1


async def test_joining_a_job_room_shows_what_the_rest_api_shows(
    services: Services, client: httpx.AsyncClient, member: Member
) -> None:
    job_id = (await upload(client, member, "p.csv", blobs_csv(30))).json()["job_id"]
    await wait_job(client, member, job_id)
    rest = (await client.get(f"/api/v1/jobs/{job_id}", headers=member.headers)).json()
    grant = await RoomAuthorizer(services.ctx.stores).grant(f"job:{job_id}", member.caller.id)
    assert grant.extra["state"] == rest
    assert not {"lease_owner", "lease_until", "announce_pending"} & grant.extra["state"].keys()
