"""Reminders across processes: `roomcast serve`, `roomcast worker`s running Taskiq's scheduler
over Redis (taskiq-redis' schedule source), one shared document store and a real SMTP server.

A reminder due in a few seconds arrives exactly once, with two workers running, as a socket
event, a notification and a mail; moving its meeting moves it, cancelling removes it, and
killing every worker before it is due does not lose it (the next worker sends it). The workers
are killed while the last reminder sent may still be being recorded: the next worker sends
nothing of it again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.ids import utcnow
from tests.integration.realtime.support import Sock
from tests.integration.workers.cluster import Cluster, running_cluster
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.slow
API = "/api/v1"
LEAD = timedelta(minutes=5)  # the shortest lead time a member can choose


@pytest.fixture
async def reminding(cluster_env: dict[str, str], smtp: SmtpServer,
                    tmp_path: Path) -> AsyncIterator[Cluster]:
    env = {**cluster_env, "SMTP_URL": smtp.url, "SCHEDULER_REFRESH_SECONDS": "1"}
    async for found in running_cluster(env, tmp_path):
        yield found


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def reminded(sock: Sock, meeting_id: str) -> list[dict[str, Any]]:
    return [e for e in sock.named("meeting.reminded") if e["meeting"]["id"] == meeting_id]


async def test_reminders_fire_once_move_cancel_and_survive_workers(
    reminding: Cluster, smtp: SmtpServer
) -> None:
    cluster = reminding
    first, second = await asyncio.gather(asyncio.to_thread(cluster.start_worker),
                                         asyncio.to_thread(cluster.start_worker))
    sock = await Sock().connect(cluster.serve.url, cluster.token)  # in user:{id} from connect
    try:
        async with httpx.AsyncClient(base_url=cluster.serve.url, headers=cluster.headers,
                                     timeout=30) as http:
            prefs = await http.patch(f"{API}/users/me/preferences",
                                     json={"reminder_minutes": 5})
            assert prefs.status_code == 200, prefs.text

            async def meeting(title: str, due_in: float) -> dict[str, Any]:
                when = utcnow() + LEAD + timedelta(seconds=due_in)
                made = await http.post(f"{API}/projects/{cluster.project_id}/meetings",
                                       json={"title": title, "scheduled_at": iso(when)})
                assert made.status_code == 201, made.text
                body: dict[str, Any] = made.json()
                return body

            now_one = await meeting("Standup", 6)
            moved = await meeting("Planning", 7)
            dropped = await meeting("Retro", 7)
            sentinel = await meeting("Demo", 9)
            later = iso(datetime.fromisoformat(moved["scheduled_at"]) + timedelta(seconds=10))
            assert (await http.patch(f"{API}/meetings/{moved['id']}",
                                     json={"scheduled_at": later})).status_code == 200
            assert (await http.post(f"{API}/meetings/{dropped['id']}/cancel")
                    ).status_code == 200

            # Two workers, two schedulers: the reminder arrives once. By the time the one due
            # last arrives, the moved and the cancelled ones' old times have passed, unsent.
            await sock.wait_for(lambda: reminded(sock, now_one["id"]), 60)
            await sock.wait_for(lambda: reminded(sock, sentinel["id"]), 60)
            assert reminded(sock, moved["id"]) == []
            assert reminded(sock, dropped["id"]) == []

            # Every worker is killed before the moved reminder is due, once the server has the
            # mail of those sent (a kill while one is going out leaves it unconfirmed, by
            # design, not sent twice); one started after its time sends it (its schedule and
            # its record outlived the workers).
            await smtp.wait_for(lambda: (found := smtp.to("watcher@example.com", "starts in"))
                                and (found if len(found) >= 2 else []), 30)
            first.kill()
            second.kill()
            due = datetime.fromisoformat(later) - LEAD
            await asyncio.sleep(max(0.0, (due + timedelta(seconds=1) - utcnow()).total_seconds()))
            await asyncio.to_thread(cluster.start_worker)
            await sock.wait_for(lambda: reminded(sock, moved["id"]), 90)
            assert reminded(sock, moved["id"])[0]["meeting"]["scheduled_at"] == later

            # A round trip through the server: what was published before has arrived.
            assert (await sock.join(f"project:{cluster.project_id}"))["ok"]
            # Once each: one notification, one event of each kind, even when a worker died
            # between sending them and recording it (the test kills both right after the last
            # one arrived): the one taking over finds the notification stored, and sends
            # nothing again.
            for meeting_id in (now_one["id"], moved["id"], sentinel["id"]):
                events = reminded(sock, meeting_id)
                assert len(events) == 1, events
            assert reminded(sock, dropped["id"]) == []
            notes = (await http.get(f"{API}/notifications")).json()["items"]
            kinds = [(n["kind"], n["data"].get("meeting_id")) for n in notes
                     if n["kind"] == "meeting.reminder"]
            assert sorted(kinds) == sorted(("meeting.reminder", m["id"])
                                           for m in (now_one, moved, sentinel))
            live = [n for n in sock.named("notification") if n["kind"] == "meeting.reminder"]
            assert len(live) == len({n["id"] for n in live}) == 3, live
        mails = await smtp.wait_for(
            lambda: (found := smtp.to("watcher@example.com", "starts in")) and (
                found if len(found) >= 3 else []), 30)
        assert sorted(str(m["Subject"]).split(" starts")[0] for m in mails) == [
            "Demo", "Planning", "Standup"]
        assert len(smtp.to("watcher@example.com", "starts in")) == 3
    finally:
        await sock.close()
