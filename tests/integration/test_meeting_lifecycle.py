"""Meetings over REST: change, cancel, delete and their state rules; recurring series; the
calendar feed; reminders planned, moved and dropped with their meeting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from icalendar import Calendar

from core.ids import utcnow
from roomcast.factory import Services
from tests.support.domain import Caller, add_member, create_project, make_user, record_events

API = "/api/v1"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def schedule(client: httpx.AsyncClient, project_id: str, head: Caller,
                   **body: Any) -> httpx.Response:
    body.setdefault("title", "Standup")
    body.setdefault("scheduled_at", iso(utcnow() + timedelta(days=2)))
    return await client.post(f"{API}/projects/{project_id}/meetings", json=body,
                             headers=head.headers)


async def test_change_cancel_delete_follow_the_states(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice = await make_user(services, "Alice")
    bob = await make_user(services, "Bob")
    project_id = await create_project(client, alice)
    await add_member(client, project_id, alice, bob)
    meeting = (await schedule(client, project_id, alice, duration_minutes=30)).json()
    url = f"{API}/meetings/{meeting['id']}"
    events = record_events(services)
    later = iso(utcnow() + timedelta(days=3))
    moved = await client.patch(url, json={"scheduled_at": later, "duration_minutes": 45,
                                          "agenda": "plans"}, headers=alice.headers)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["scheduled_at"], moved.json()["duration_minutes"]) == (later, 45)
    assert (await client.patch(url, json={"title": "x"}, headers=bob.headers)).status_code == 403
    past = await client.patch(url, json={"scheduled_at": "2020-01-01T00:00:00Z"},
                              headers=alice.headers)
    assert past.status_code == 422
    assert past.json()["error"]["details"][0]["type"] == "in_the_past"
    nulls = await client.patch(url, json={"title": None}, headers=alice.headers)
    assert nulls.status_code == 422
    assert [(r, e) for r, e, _ in events.of("emit")] == [
        (f"meeting:{meeting['id']}", "meeting.changed"),
        (f"project:{project_id}", "meeting.changed")]
    assert [(u, k) for u, k, _ in events.of("notify")] == [(bob.id, "meeting.changed")]

    # Live: the title may change, the time may not; it cannot be cancelled or deleted.
    await client.post(f"{url}/start", headers=alice.headers)
    assert (await client.patch(url, json={"title": "Retro"}, headers=alice.headers)
            ).json()["title"] == "Retro"
    for answer in (await client.patch(url, json={"scheduled_at": later}, headers=alice.headers),
                   await client.post(f"{url}/cancel", headers=alice.headers),
                   await client.delete(url, headers=alice.headers)):
        assert (answer.status_code, answer.json()["error"]["code"]) == (409, "invalid_state")
        assert answer.json()["error"]["details"] == {"status": "live"}
    await client.post(f"{url}/end", headers=alice.headers)
    ended = await client.patch(url, json={"agenda": "late notes"}, headers=alice.headers)
    assert (ended.status_code, ended.json()["error"]["code"]) == (409, "invalid_state")
    assert (await client.delete(url, headers=alice.headers)).status_code == 204
    assert (await client.get(url, headers=alice.headers)).status_code == 404

    other = (await schedule(client, project_id, alice)).json()
    other_url = f"{API}/meetings/{other['id']}"
    cancelled = await client.post(f"{other_url}/cancel", headers=alice.headers)
    assert (cancelled.json()["status"], cancelled.json()["cancelled_at"] is not None) == (
        "cancelled", True)
    for action in ("start", "cancel", "remind"):
        refused = await client.post(f"{other_url}/{action}", headers=alice.headers)
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "invalid_state")
    listed = await client.get(f"{API}/projects/{project_id}/meetings",
                              params={"status": "cancelled"}, headers=bob.headers)
    assert [m["id"] for m in listed.json()["items"]] == [other["id"]]


async def test_reminders_follow_their_meeting(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice = await make_user(services, "Alice")
    project_id = await create_project(client, alice)
    start = utcnow() + timedelta(hours=2)
    meeting = (await schedule(client, project_id, alice, scheduled_at=iso(start))).json()
    reminders = services.ctx.stores.reminders

    async def pending() -> dict[int, datetime]:
        return {r.lead_minutes: r.due_at for r in await reminders.for_subject(meeting["id"])
                if r.state == "pending"}

    # A day ahead is past already: only the reminders still to come are owed.
    assert sorted(await pending()) == [5, 10, 15, 30, 60]
    assert (await pending())[15] == datetime.fromisoformat(meeting["scheduled_at"]) - timedelta(
        minutes=15)
    moved = datetime.fromisoformat(iso(start + timedelta(days=2)))
    await client.patch(f"{API}/meetings/{meeting['id']}", json={"scheduled_at": iso(moved)},
                       headers=alice.headers)
    assert (await pending())[1440] == moved - timedelta(days=1)
    await client.post(f"{API}/meetings/{meeting['id']}/cancel", headers=alice.headers)
    assert await pending() == {}


async def test_recurring_series_and_one_occurrence(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice = await make_user(services, "Alice")
    project_id = await create_project(client, alice)
    first = datetime(2030, 3, 4, 8, 0, tzinfo=UTC)  # a Monday, 09:00 in Paris
    created = await schedule(client, project_id, alice, scheduled_at=iso(first),
                             recurrence={"rule": "FREQ=WEEKLY;BYDAY=MO;COUNT=6",
                                         "timezone": "Europe/Paris"})
    assert created.status_code == 201, created.text
    series_id = created.json()["series_id"]
    listed = await client.get(f"{API}/projects/{project_id}/meetings",
                              params={"series_id": series_id}, headers=alice.headers)
    starts = [m["scheduled_at"] for m in listed.json()["items"]]
    # 09:00 Paris time all along: 08:00 UTC, then 07:00 UTC from the end of March (DST).
    assert starts == ["2030-03-04T08:00:00Z", "2030-03-11T08:00:00Z", "2030-03-18T08:00:00Z",
                      "2030-03-25T08:00:00Z", "2030-04-01T07:00:00Z", "2030-04-08T07:00:00Z"]
    series = await client.get(f"{API}/meeting-series/{series_id}", headers=alice.headers)
    assert (series.json()["occurrences"], series.json()["timezone"]) == (6, "Europe/Paris")

    # One occurrence moves, another is cancelled; the rest are untouched.
    second, third = listed.json()["items"][1:3]
    await client.patch(f"{API}/meetings/{second['id']}",
                       json={"scheduled_at": "2030-03-12T08:00:00Z"}, headers=alice.headers)
    await client.post(f"{API}/meetings/{third['id']}/cancel", headers=alice.headers)
    after = (await client.get(f"{API}/projects/{project_id}/meetings",
                              params={"series_id": series_id}, headers=alice.headers)).json()
    by_id = {m["id"]: m for m in after["items"]}
    assert by_id[second["id"]]["scheduled_at"] == "2030-03-12T08:00:00Z"
    assert by_id[second["id"]]["occurrence_at"] == "2030-03-11T08:00:00Z"
    assert by_id[third["id"]]["status"] == "cancelled"
    assert sum(m["status"] == "scheduled" for m in after["items"]) == 5

    cancelled = await client.post(f"{API}/meeting-series/{series_id}/cancel",
                                  headers=alice.headers)
    assert cancelled.json() == {"cancelled": 5}
    assert (await client.delete(f"{API}/meeting-series/{series_id}", headers=alice.headers)
            ).status_code == 204
    gone = await client.get(f"{API}/projects/{project_id}/meetings",
                            params={"series_id": series_id}, headers=alice.headers)
    assert gone.json()["total"] == 0


async def test_bad_recurrences_are_refused_whole(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice = await make_user(services, "Alice")
    project_id = await create_project(client, alice)
    when = iso(utcnow() + timedelta(days=1))
    for rule, tz in (("FREQ=WEEKLY", "UTC"),  # never ends
                     ("FREQ=DAILY;COUNT=101", "UTC"),  # more than MEETING_MAX_OCCURRENCES
                     ("FREQ=HOURLY;COUNT=3", "UTC"),
                     ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "UTC"),  # never matches
                     ("BYDAY=MO", "UTC"), ("FREQ=WEEKLY;COUNT=2", "Mars/Olympus"),
                     ("FREQ=WEEKLY;COUNT=2\nDTSTART:20300101T000000Z", "UTC")):
        refused = await schedule(client, project_id, alice, scheduled_at=when,
                                 recurrence={"rule": rule, "timezone": tz})
        assert refused.status_code in (422, 503), (rule, refused.text)
        if refused.status_code == 422:
            detail = refused.json()["error"]["details"][0]
            assert detail["type"] == "invalid_recurrence", (rule, detail)
    past = await schedule(client, project_id, alice, scheduled_at="2020-01-06T09:00:00Z",
                          recurrence={"rule": "FREQ=WEEKLY;COUNT=3"})
    assert past.json()["error"]["details"][0]["type"] == "in_the_past"
    listed = await client.get(f"{API}/projects/{project_id}/meetings", headers=alice.headers)
    assert listed.json()["total"] == 0  # nothing half-made
    assert await services.ctx.stores.series._c.count_documents({}) == 0


async def test_calendar_feed_lists_the_meetings_and_rotates(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice = await make_user(services, "Alice")
    project_id = await create_project(client, alice, "Apollo")
    start = utcnow() + timedelta(days=1)
    kept = (await schedule(client, project_id, alice, title="Launch review",
                           scheduled_at=iso(start), duration_minutes=90, agenda="go/no-go")
            ).json()
    dropped = (await schedule(client, project_id, alice, title="Dry run")).json()
    await client.post(f"{API}/meetings/{dropped['id']}/cancel", headers=alice.headers)
    feed = (await client.get(f"{API}/users/me/calendar", headers=alice.headers)).json()["url"]
    assert feed == (await client.get(f"{API}/users/me/calendar", headers=alice.headers)
                    ).json()["url"]
    path = feed.split("127.0.0.1:8000", 1)[1]
    answer = await client.get(path)  # no credentials: the URL is the secret
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(answer.content)
    events = {str(e["uid"]): e for e in calendar.walk("VEVENT")}
    event = events[f"{kept['id']}@roomcast"]
    assert str(event["summary"]) == "Launch review"
    assert event.decoded("dtend") - event.decoded("dtstart") == timedelta(minutes=90)
    assert "go/no-go" in str(event["description"])
    assert str(events[f"{dropped['id']}@roomcast"]["status"]) == "CANCELLED"

    rotated = (await client.post(f"{API}/users/me/calendar/rotate", headers=alice.headers)
               ).json()["url"]
    assert rotated != feed
    assert (await client.get(path)).status_code == 404
    assert (await client.get(rotated.split("127.0.0.1:8000", 1)[1])).status_code == 200
