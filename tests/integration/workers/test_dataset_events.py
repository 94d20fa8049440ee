"""`dataset.created`: one per dataset an ingestion or a prediction stores, into the project's
room, as `GET /datasets/{id}` shows it, even when the worker running the job is killed and
another finishes it; and recovered by a client that rejoins with `since`."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.integration.realtime.support import Sock
from tests.integration.workers.cluster import Cluster
from tests.integration.workers.cluster import completed as _completed
from tests.integration.workers.cluster import job_events as _events
from tests.integration.workers.cluster import watch as _watch
from tests.integration.workers.test_pipeline_embedded import blobs_csv

pytestmark = pytest.mark.slow


def _created(sock: Sock, dataset_id: str) -> list[dict[str, Any]]:
    return [e for e in sock.named("dataset.created") if e["dataset"]["id"] == dataset_id]


async def test_each_new_dataset_is_announced_once_and_recovered(cluster: Cluster) -> None:
    first = await asyncio.to_thread(cluster.start_worker)
    sock = await _watch(cluster)
    room = f"project:{cluster.project_id}"
    try:
        async with httpx.AsyncClient(base_url=cluster.serve.url, headers=cluster.headers,
                                     timeout=30) as http:
            uploaded = await http.post(f"/api/v1/projects/{cluster.project_id}/uploads",
                                       files={"file": ("points.csv", blobs_csv())})
            job_id = uploaded.json()["job_id"]
            # The worker dies mid-job; another takes the job over and finishes it.
            await sock.wait_for(lambda: [p for p in _events(sock, "job.progress", job_id)
                                         if p["stage"] == "reading"], 60)
            first.kill()
            await asyncio.to_thread(cluster.start_worker)
            dataset_id = (await _completed(sock, job_id))["result"]["dataset_id"]
            shown = (await http.get(f"/api/v1/datasets/{dataset_id}")).json()

            analysis = await http.post(f"/api/v1/datasets/{dataset_id}/analyses",
                                       json={"algorithm": "kmeans", "k": 3, "restarts": 2})
            model_id = (await _completed(sock, analysis.json()["job_id"]))["result"]["model_id"]
            predicting = await http.post(f"/api/v1/models/{model_id}/predict",
                                         json={"dataset_id": dataset_id})
            assert predicting.status_code == 202, predicting.text
            prediction_id = predicting.json()["job_id"]
            predicted_id = (await _completed(sock, prediction_id))["result"]["dataset_id"]
            predicted = (await http.get(f"/api/v1/datasets/{predicted_id}")).json()
        # A join is a round trip through the server: what was published before it has
        # reached the socket when it answers, so the counts below see everything.
        assert (await sock.join(f"job:{prediction_id}"))["ok"]

        ingested = _created(sock, dataset_id)
        assert len(ingested) == 1, sock.named("dataset.created")
        assert ingested[0]["dataset"] == shown
        assert (ingested[0]["by"], ingested[0]["job_id"], ingested[0]["room"]) == (
            cluster.user_id, job_id, room)
        made = _created(sock, predicted_id)
        assert len(made) == 1 and made[0]["dataset"] == predicted
        assert made[0]["job_id"] == prediction_id
        # An analysis stores a model, not a dataset: two datasets, two events.
        assert len(sock.named("dataset.created")) == 2
        # Announced before the job's end, in the same room.
        order = [(name, data.get("job_id")) for name, data in sock.events
                 if isinstance(data, dict) and data.get("room") == room
                 and name in ("dataset.created", "job.completed")]
        assert order.index(("dataset.created", job_id)) < order.index(("job.completed", job_id))

        # A client that was away rejoins with `since` and gets them from the room's history.
        away = await Sock().connect(cluster.serve.url, cluster.token)
        try:
            since = ingested[0]["offset"] - 1
            replay = await away.join(room, since=since, epoch=ingested[0]["epoch"])
            assert replay["ok"] and replay["recovered"] is True, replay
            assert [e["dataset"]["id"] for e in away.named("dataset.created")] == [
                dataset_id, predicted_id]
            assert away.named("dataset.created")[0] == ingested[0]
        finally:
            await away.close()
    finally:
        await sock.close()
