"""Reminders and digests on the embedded default: Taskiq's scheduler inside the process over
the store's schedule source; mail dropped as files under DATA_DIR/mail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from core.ids import utcnow
from core.store.reminders import ReminderKind, reminder_id
from roomcast.factory import Services, build_services
from tests.support.domain import add_member, create_project, make_user
from tests.support.services import eventually
from workers.schedule.digests import period_end, send_digests
from workers.schedule.tasks import sweep_once

API = "/api/v1"


@pytest.fixture
async def quick(make_settings: Any) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    services = build_services(make_settings(scheduler_refresh_seconds=0.2))
    await services.start()
    transport = httpx.ASGITransport(app=create_app(services.ctx))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield services, http
    finally:
        await services.close()


async def until(check: Any, within: float = 30) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not (found := await check()):
        assert loop.time() < deadline, "the condition did not come true"
        await asyncio.sleep(0.05)
    return found


def mails(services: Services) -> list[Any]:
    folder = Path(services.settings.data_dir) / "mail"
    return [message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(folder.glob("*.eml"))]


async def test_a_reminder_fires_inside_serve_and_is_mailed_to_a_file(
    quick: tuple[Services, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    services, http = quick
    caplog.set_level("INFO", logger="roomcast.mail")
    ada = await make_user(services, "Ada")
    await http.patch(f"{API}/users/me/preferences", json={"reminder_minutes": 5},
                     headers=ada.headers)
    project_id = await create_project(http, ada)
    # Due 3 seconds from now: time enough, on a busy machine, for the request to plan it.
    when = (utcnow() + timedelta(minutes=5, seconds=3)).isoformat()
    meeting = (await http.post(f"{API}/projects/{project_id}/meetings",
                               json={"title": "Standup", "scheduled_at": when},
                               headers=ada.headers)).json()

    async def reminders() -> list[dict[str, Any]]:
        items = (await http.get(f"{API}/notifications", headers=ada.headers)).json()["items"]
        return [n for n in items if n["kind"] == "meeting.reminder"]

    found = await until(reminders)
    assert found[0]["data"]["meeting_id"] == meeting["id"]
    mailed = await until(lambda: _async([m for m in mails(services)
                                         if "Standup starts" in str(m["Subject"])]))
    assert mailed[0]["To"] == ada.user.email
    # The file is written before the line that names it is logged: wait for the line too.
    assert await until(lambda: _async([r for r in caplog.records
                                       if "written to" in r.getMessage()
                                       and ".eml" in r.getMessage()]))
    record = await services.ctx.stores.reminders.get(
        reminder_id(ReminderKind.MEETING, meeting["id"], 5))
    assert record is not None and record.state == "sent"
    assert len(await reminders()) == 1


async def _async(value: Any) -> Any:
    return value


async def test_task_reminders_follow_the_task_and_the_sweep_sends_them(
    quick: tuple[Services, httpx.AsyncClient]
) -> None:
    services, http = quick
    ada = await make_user(services, "Ada")
    bob = await make_user(services, "Bob")
    project_id = await create_project(http, ada)
    await add_member(http, project_id, ada, bob)
    due = (date.today() + timedelta(days=3)).isoformat()
    task = (await http.post(f"{API}/projects/{project_id}/tasks", headers=ada.headers, json={
        "title": "Write the plan", "assignee_id": bob.id, "due_date": due})).json()
    store = services.ctx.stores.reminders
    owed = {r.kind: r for r in await store.for_subject(task["id"]) if r.state == "pending"}
    assert set(owed) == {ReminderKind.TASK_DUE, ReminderKind.TASK_OVERDUE}
    assert owed[ReminderKind.TASK_DUE].due_at.hour == services.settings.task_reminder_hour
    # Done: nothing is owed any more.
    await http.patch(f"{API}/tasks/{task['id']}", json={"status": "done"}, headers=bob.headers)
    assert [r for r in await store.for_subject(task["id"]) if r.state == "pending"] == []
    # Open again, and its time has come (as if its trigger were lost): the sweep sends it.
    await http.patch(f"{API}/tasks/{task['id']}", json={"status": "todo"}, headers=bob.headers)
    rid = reminder_id(ReminderKind.TASK_DUE, task["id"])
    await store._c.update_one({"_id": rid}, {"$set": {"due_at": utcnow() - timedelta(1)}})
    assert services.jobs is not None and services.jobs.people is not None
    reminded, _ = await sweep_once(services.jobs.people)
    assert reminded == 1
    items = (await http.get(f"{API}/notifications", headers=bob.headers)).json()["items"]
    assert [n["kind"] for n in items if n["kind"].startswith("task.due")] == ["task.due"]
    assert (await sweep_once(services.jobs.people))[0] == 0  # once


async def test_daily_digest_gathers_what_was_chosen_for_it(
    quick: tuple[Services, httpx.AsyncClient]
) -> None:
    services, http = quick
    ada = await make_user(services, "Ada")
    bob = await make_user(services, "Bob")
    changed = await http.patch(f"{API}/users/me/preferences", headers=bob.headers,
                               json={"channels": {"task.assigned": "digest"}})
    assert changed.json()["channels"]["task.assigned"] == "digest"
    bad = await http.patch(f"{API}/users/me/preferences", headers=bob.headers,
                           json={"channels": {"task.exploded": "email"}})
    assert bad.status_code == 422
    project_id = await create_project(http, ada)
    await add_member(http, project_id, ada, bob)
    for title in ("One", "Two"):
        await http.post(f"{API}/projects/{project_id}/tasks", headers=ada.headers,
                        json={"title": title, "assignee_id": bob.id})
    assert services.jobs is not None and services.jobs.people is not None
    # A digest covers whole milliseconds (`period_end`): the tasks' one is over first.
    assigned = utcnow()
    await eventually(lambda: period_end(utcnow()) >= assigned, what="the next millisecond")
    assert await send_digests(services.jobs.people) == 1
    digest = await until(lambda: _async([m for m in mails(services) if "digest" in
                                         str(m["Subject"])]))
    text = digest[0].get_body(preferencelist=("plain",)).get_content()
    assert "One" in text and "Two" in text and digest[0]["To"] == bob.user.email
    assert await send_digests(services.jobs.people) == 0  # nothing new since


async def test_a_muted_project_is_silent(quick: tuple[Services, httpx.AsyncClient]) -> None:
    services, http = quick
    ada = await make_user(services, "Ada")
    bob = await make_user(services, "Bob")
    project_id = await create_project(http, ada)
    await add_member(http, project_id, ada, bob)
    muted = await http.put(f"{API}/projects/{project_id}/mute", headers=bob.headers)
    assert muted.json()["muted_projects"] == [project_id]
    await http.post(f"{API}/projects/{project_id}/tasks", headers=ada.headers,
                    json={"title": "Quiet", "assignee_id": bob.id})
    items = (await http.get(f"{API}/notifications", headers=bob.headers)).json()["items"]
    assert [n["kind"] for n in items] == ["project.added"]
    await http.delete(f"{API}/projects/{project_id}/mute", headers=bob.headers)
    await http.post(f"{API}/projects/{project_id}/tasks", headers=ada.headers,
                    json={"title": "Loud", "assignee_id": bob.id})
    items = (await http.get(f"{API}/notifications", headers=bob.headers)).json()["items"]
    assert [n["kind"] for n in items] == ["task.assigned", "project.added"]
    outsider = await make_user(services, "Cy")
    assert (await http.put(f"{API}/projects/{project_id}/mute", headers=outsider.headers)
            ).status_code == 404
