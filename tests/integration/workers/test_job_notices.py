"""A job's end notifies its creator as their preferences say, like every notification: off,
a muted project, in-app, or mailed at once through the outbox (a real SMTP server); the
job's rooms hear of the end whatever the creator chose, and a redelivery adds nothing."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from core.models import PageParams
from core.notices import mail_key
from core.store.jobs import JobDoc
from roomcast.factory import Services, build_services
from tests.integration.workers.conftest import Member, upload, wait_job
from tests.integration.workers.test_pipeline_embedded import blobs_csv
from tests.support.domain import RecordingEmitter, make_user
from tests.support.smtp import SmtpServer
from workers.runner import run_job
from workers.sweeper import announce_leftovers

API = "/api/v1"


@dataclasses.dataclass
class Mailing:
    services: Services
    http: httpx.AsyncClient
    member: Member
    recorder: RecordingEmitter

    async def finished_job(self) -> JobDoc:
        """Upload, wait for the job to end, and for everything it owed to be published."""
        started = await upload(self.http, self.member, "p.csv", blobs_csv(30))
        job_id = started.json()["job_id"]
        await wait_job(self.http, self.member, job_id)
        jobs = self.services.ctx.stores.jobs

        deadline = asyncio.get_running_loop().time() + 30
        while True:  # bounded wait for a condition, not a timing assertion
            job = await jobs.get(job_id)
            assert job is not None
            if not job.announce_pending:
                return job
            assert asyncio.get_running_loop().time() < deadline, job
            await asyncio.sleep(0.02)

    def emitted(self, room: str, event: str, job_id: str) -> list[dict[str, Any]]:
        return [data for r, e, data in self.recorder.of("emit")
                if (r, e) == (room, event) and job_id in (data.get("job_id"),
                                                          data.get("data", {}).get("job_id"))]

    async def notices(self, job_id: str) -> list[dict[str, Any]]:
        listing = (await self.http.get(f"{API}/notifications",
                                       headers=self.member.headers)).json()["items"]
        return [n for n in listing if n["data"].get("job_id") == job_id]


@pytest.fixture
async def mailing(make_settings: Any, smtp: SmtpServer) -> AsyncIterator[Mailing]:
    services = build_services(make_settings(
        smtp_url=smtp.url, scheduler_refresh_seconds=0.2, mail_retry_base_seconds=0.2))
    await services.start()
    try:
        assert services.jobs is not None and services.jobs.deps is not None
        recorder = RecordingEmitter(services.jobs.deps.emitter)
        services.jobs.deps = dataclasses.replace(services.jobs.deps, emitter=recorder)
        caller = await make_user(services, "Ada")
        project = await services.ctx.stores.projects.create(name="P", owner_id=caller.id)
        transport = httpx.ASGITransport(app=create_app(services.ctx))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield Mailing(services, http, Member(caller, project.id), recorder)
    finally:
        await services.close()


@pytest.mark.parametrize("how", ["off", "muted"])
async def test_a_creator_who_wants_none_gets_none_but_the_rooms_hear(
    mailing: Mailing, how: str
) -> None:
    member = mailing.member
    if how == "off":
        changed = await mailing.http.patch(f"{API}/users/me/preferences", headers=member.headers,
                                           json={"channels": {"job.completed": "off"}})
    else:
        changed = await mailing.http.put(f"{API}/projects/{member.project_id}/mute",
                                         headers=member.headers)
    assert changed.status_code == 200, changed.text
    job = await mailing.finished_job()

    for room in (f"job:{job.id}", f"project:{member.project_id}"):
        assert len(mailing.emitted(room, "job.completed", job.id)) == 1
    assert mailing.emitted(f"user:{member.caller.id}", "notification", job.id) == []
    assert await mailing.notices(job.id) == []
    assert await mailing.services.ctx.stores.mail.get(mail_key(job.id)) is None


async def test_in_app_by_default_and_email_now_mails_once(
    mailing: Mailing, smtp: SmtpServer
) -> None:
    member = mailing.member
    in_app = await mailing.finished_job()
    assert [n["kind"] for n in await mailing.notices(in_app.id)] == ["job.completed"]
    assert await mailing.services.ctx.stores.mail.get(mail_key(in_app.id)) is None

    changed = await mailing.http.patch(f"{API}/users/me/preferences", headers=member.headers,
                                       json={"channels": {"job.completed": "email"}})
    assert changed.json()["channels"]["job.completed"] == "email"
    job = await mailing.finished_job()
    assert [n["kind"] for n in await mailing.notices(job.id)] == ["job.completed"]
    assert len(mailing.emitted(f"user:{member.caller.id}", "notification", job.id)) == 1
    mails = await smtp.wait_for(lambda: smtp.to(member.caller.user.email, "Ingestion finished"))
    assert len(mails) == 1

    # A redelivery of the job's message and a sweep find nothing owed: no second mail queued.
    assert mailing.services.jobs is not None and mailing.services.jobs.deps is not None
    await run_job(mailing.services.jobs.deps, job.id)
    assert await announce_leftovers(mailing.services.jobs.deps) == 0
    outbox = await mailing.services.ctx.stores.mail.page(PageParams(limit=100), None)
    assert [m.to for m in outbox.items] == [member.caller.user.email]
    assert outbox.items[0].id == mail_key(job.id)
    assert len(await mailing.notices(job.id)) == 1
