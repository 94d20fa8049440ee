"""Deleting a project, as real Socket.IO clients of a real `roomcast serve` see it: members
are told in the project's room and in their own, their sockets leave the project's rooms, and
the head follows the deletion job in their own room."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.documents.support import API, png, put
from tests.integration.realtime.support import Sock
from tests.integration.test_people_events import account
from tests.support.services import ServerProcess

pytestmark = pytest.mark.slow


async def test_members_are_told_and_leave_the_rooms(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        ada_id, ada_token, ada = await account(http, "Ada")
        bob_id, bob_token, _ = await account(http, "Bob")
        project_id = (await http.post(f"{API}/projects", json={"name": "Apollo"},
                                      headers=ada)).json()["id"]
        await http.post(f"{API}/projects/{project_id}/members", json={"user_id": bob_id},
                        headers=ada)
        meeting = (await http.post(f"{API}/projects/{project_id}/meetings", headers=ada, json={
            "title": "Standup", "scheduled_at": "2030-05-01T09:00:00Z"})).json()
        await put(http, project_id, ada, "cover.png", png())
        room, meeting_room = f"project:{project_id}", f"meeting:{meeting['id']}"
        in_rooms, elsewhere, head = Sock(), Sock(), Sock()
        await in_rooms.connect(server.url, bob_token)
        await elsewhere.connect(server.url, bob_token)
        await head.connect(server.url, ada_token)
        try:
            assert (await in_rooms.join(room))["ok"]
            assert (await in_rooms.join(meeting_room))["ok"]
            deleted = await http.delete(f"{API}/projects/{project_id}", headers=ada)
            assert deleted.status_code == 202, deleted.text
            job_id = deleted.json()["job_id"]

            revoked = await in_rooms.wait_for(lambda: sorted(
                d["room"] for d in in_rooms.named("room:revoked")) == sorted(
                    [room, meeting_room]), 30)
            assert revoked
            told = [d for d in in_rooms.named("project.deleted") if d["room"] == room]
            assert told and told[0]["project_id"] == project_id
            mine = await elsewhere.wait_for(lambda: [
                d for d in elsewhere.named("project.deleted") if d["room"] == f"user:{bob_id}"])
            assert mine[0]["by"] == ada_id and "offset" in mine[0]
            done = await head.wait_for(lambda: [
                d for d in head.named("job.completed") if d["job_id"] == job_id], 60)
            assert done[0]["room"] == f"user:{ada_id}"
            assert done[0]["kind"] == "project_deletion"
            assert done[0]["result"]["removed"]["documents"] == 1
            again = await in_rooms.join(room)
            assert (again["ok"], again["error"]["code"]) == (False, "not_found")
            assert not [d for d in head.named("notification") if d["data"].get("job_id") == job_id]
        finally:
            for sock in (in_rooms, elsewhere, head):
                await sock.close()
