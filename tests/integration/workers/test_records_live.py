"""Two members edit one row at once through real processes (`roomcast serve`, a worker, Redis,
S3, a shared document store): one edit wins, the other gets 409 with the winning row, and both
Socket.IO clients see the final row live, in order, with the project room's offsets."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from core.models import ProjectRole
from core.settings import Settings
from core.tokens import TokenService
from tests.integration.realtime.support import Sock
from tests.integration.workers.cluster import Cluster, job_events, watch
from tests.integration.workers.test_pipeline_embedded import blobs_csv

pytestmark = pytest.mark.slow


async def second_member(cluster: Cluster) -> tuple[str, dict[str, str]]:
    user = await cluster.stores.users.create(email="editor@example.com", name="E",
                                             password_hash=None)
    await cluster.stores.projects.add_member(cluster.project_id, user.id, ProjectRole.MEMBER)
    settings = Settings(env="test", _env_file=None)  # type: ignore[call-arg]
    token = TokenService(settings).issue(sub=user.id, role=user.role, typ="access").token
    return token, {"Authorization": f"Bearer {token}"}


def updates(sock: Sock, dataset_id: str, row: int) -> list[dict[str, Any]]:
    return [e for e in sock.named("record.updated")
            if e["dataset_id"] == dataset_id and e["row"] == row]


async def test_two_editors_one_wins_the_other_gets_409_and_both_see_the_row(
    cluster: Cluster,
) -> None:
    await asyncio.to_thread(cluster.start_worker)
    token, editor_headers = await second_member(cluster)
    first = await watch(cluster)
    second = await Sock().connect(cluster.serve.url, token)
    assert (await second.join(f"project:{cluster.project_id}"))["ok"]
    try:
        async with httpx.AsyncClient(base_url=cluster.serve.url, timeout=30) as http:
            uploaded = await http.post(f"/api/v1/projects/{cluster.project_id}/uploads",
                                       files={"file": ("points.csv", blobs_csv(30))},
                                       headers=cluster.headers)
            job_id = uploaded.json()["job_id"]
            done = await first.wait_for(lambda: job_events(first, "job.completed", job_id), 60)
            dataset_id = done[0]["result"]["dataset_id"]
            url = f"/api/v1/datasets/{dataset_id}/records/5"
            seen = [await http.get(url, headers=h) for h in (cluster.headers, editor_headers)]
            assert [r.headers["ETag"] for r in seen] == ['"1"', '"1"']

            mine, theirs = await asyncio.gather(
                http.patch(url, json={"values": {"label": "mine"}},
                           headers={**cluster.headers, "If-Match": '"1"'}),
                http.patch(url, json={"values": {"label": "theirs"}},
                           headers={**editor_headers, "If-Match": '"1"'}))
            statuses = sorted([mine.status_code, theirs.status_code])
            assert statuses == [200, 409], (mine.text, theirs.text)
            winner, loser = (mine, theirs) if mine.status_code == 200 else (theirs, mine)
            current = loser.json()["error"]["details"]["current"]
            assert loser.json()["error"]["code"] == "version_conflict"
            assert current == winner.json()
            assert current["version"] == 2

            for sock in (first, second):
                event = (await sock.wait_for(lambda s=sock: updates(s, dataset_id, 5)))[0]
                assert event["version"] == 2
                assert event["values"] == winner.json()["values"]
                assert event["room"] == f"project:{cluster.project_id}"

            # The loser retries from the row it was given: now it wins, and both see that.
            loser_headers = editor_headers if loser is theirs else cluster.headers
            retried = await http.patch(url, json={"values": {"label": "merged"}},
                                       headers={**loser_headers, "If-Match": '"2"'})
            assert retried.status_code == 200 and retried.headers["ETag"] == '"3"'
            for sock in (first, second):
                final = await sock.wait_for(
                    lambda s=sock: [e for e in updates(s, dataset_id, 5) if e["version"] == 3])
                assert final[0]["values"]["label"] == "merged"
                offsets = [e["offset"] for e in updates(sock, dataset_id, 5)]
                assert offsets == sorted(set(offsets))
            # A client that was away rejoins with the last offset it saw and gets the changes.
            room = f"project:{cluster.project_id}"
            seen_first = updates(first, dataset_id, 5)
            before = min(e["offset"] for e in seen_first) - 1
            late = await Sock().connect(cluster.serve.url, token)
            try:
                # The offset counts in the room history's epoch, which the events carry.
                rejoined = await late.join(room, since=before, epoch=seen_first[0]["epoch"])
                assert rejoined["recovered"] is True
                replayed = await late.wait_for(
                    lambda: [e for e in updates(late, dataset_id, 5) if e["version"] == 3])
                assert replayed[0]["values"]["label"] == "merged"
                assert [e["version"] for e in updates(late, dataset_id, 5)] == [2, 3]
            finally:
                await late.close()
            page = (await http.get(f"/api/v1/datasets/{dataset_id}/records",
                                   params={"offset": 5, "limit": 1},
                                   headers=cluster.headers)).json()
            assert page["items"][0]["values"]["label"] == "merged"
            assert page["items"][0]["version"] == 3
    finally:
        await first.close()
        await second.close()
