"""Engagement across a project's meetings, per member, over a range of days (heads only)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import httpx

from core.ids import utcnow
from core.store.messages import NewMessage
from roomcast.factory import Services
from tests.support.domain import add_member, create_project, make_user

API = "/api/v1"


async def test_per_member_over_a_range_as_json_and_csv(
    client: httpx.AsyncClient, services: Services
) -> None:
    stores = services.ctx.stores
    ada = await make_user(services, "Ada")
    bob = await make_user(services, "=Bob")  # a name a spreadsheet would run as a formula
    project_id = await create_project(client, ada)
    await add_member(client, project_id, ada, bob)
    now = utcnow()
    held = []
    for hours in (3, 2):
        meeting = await stores.meetings.create(project_id=project_id, title="M", agenda="",
                                               scheduled_at=now - timedelta(hours=hours),
                                               created_by=ada.id)
        await stores.meetings.start(meeting.id)
        await stores.meetings.end(meeting.id)
        held.append(meeting)
    cancelled = await stores.meetings.create(project_id=project_id, title="C", agenda="",
                                             scheduled_at=now - timedelta(hours=1),
                                             created_by=ada.id)
    await stores.meetings.cancel(cancelled.id)
    # Ada attends both (two tabs overlapping in the first), Bob the first only.
    await stores.attendance.open(held[0].id, ada.id, "s1")
    await stores.attendance.open(held[0].id, ada.id, "s2")
    await stores.attendance.close(held[0].id, "s1", now + timedelta(minutes=1))
    await stores.attendance.close(held[0].id, "s2", now + timedelta(minutes=1))
    await stores.attendance.open(held[1].id, ada.id, "s3")
    await stores.attendance.open(held[0].id, bob.id, "s4")
    for text in ("hi", "there"):
        await stores.messages.create(NewMessage(meeting_id=held[0].id, project_id=project_id,
                                                user_id=bob.id, user_name="=Bob", text=text,
                                                client_id=None))
    url = f"{API}/projects/{project_id}/engagement"
    answer = await client.get(url, headers=ada.headers)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["meetings_held"], report["meetings_cancelled"], report["messages"]) == (
        2, 1, 2)
    members = {m["user_id"]: m for m in report["members"]}
    assert (members[ada.id]["meetings_attended"], members[ada.id]["attendance_rate"]) == (2, 1.0)
    assert (members[bob.id]["meetings_attended"], members[bob.id]["attendance_rate"],
            members[bob.id]["messages"]) == (1, 0.5, 2)
    assert members[ada.id]["seconds_present"] > 0

    exported = await client.get(f"{url}.csv", headers=ada.headers)
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["user_id"]: r["meetings_attended"] for r in rows} == {ada.id: "2", bob.id: "1"}
    assert next(r for r in rows if r["user_id"] == bob.id)["name"] == "'=Bob"

    assert (await client.get(url, headers=bob.headers)).status_code == 403
    outsider = await make_user(services, "Cy")
    assert (await client.get(url, headers=outsider.headers)).status_code == 404
    past = await client.get(url, params={"since": "2020-01-01", "until": "2020-01-31"},
                            headers=ada.headers)
    assert past.json()["meetings_held"] == 0
    for params in ({"since": "2026-05-02", "until": "2026-05-01"},
                   {"since": "2020-01-01", "until": "2026-01-01"}, {"since": "yesterday"}):
        assert (await client.get(url, params=params, headers=ada.headers)).status_code == 422
