"""A model trained and used across processes: `roomcast serve` answers rows itself, and a
separate `roomcast worker` (Redis broker, S3 server, shared document store) trains the model
and predicts a new upload, its progress watched live."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.integration.workers.cluster import Cluster
from tests.integration.workers.cluster import completed as _finished
from tests.integration.workers.cluster import job_events as _events
from tests.integration.workers.cluster import watch as _watch
from tests.integration.workers.test_models import labelled_csv

pytestmark = pytest.mark.slow


async def test_train_on_a_worker_then_predict_rows_and_a_new_upload(cluster: Cluster) -> None:
    await asyncio.to_thread(cluster.start_worker)
    sock = await _watch(cluster)
    base = f"/api/v1/projects/{cluster.project_id}"
    try:
        async with httpx.AsyncClient(base_url=cluster.serve.url, headers=cluster.headers,
                                     timeout=30) as http:
            training, _ = labelled_csv(300, seed=0)
            job_id = (await http.post(f"{base}/uploads", files={"file": ("t.csv", training)})
                      ).json()["job_id"]
            dataset_id = (await _finished(sock, job_id))["result"]["dataset_id"]
            started = await http.post(f"/api/v1/datasets/{dataset_id}/analyses", json={
                "algorithm": "random_forest", "target": "kind", "n_estimators": 8})
            model_id = (await _finished(sock, started.json()["job_id"]))["result"]["model_id"]

            answer = await http.post(f"/api/v1/models/{model_id}/predict",
                                     json={"rows": [{"x": 0, "y": 8}, {"x": 8, "y": 8}]})
            assert answer.status_code == 200, answer.text
            assert answer.json()["predictions"] == ["c", "b"]

            fresh, truth = labelled_csv(90, seed=2, with_label=False)
            upload_job = (await http.post(f"{base}/uploads", files={"file": ("n.csv", fresh)})
                          ).json()["job_id"]
            new_id = (await _finished(sock, upload_job))["result"]["dataset_id"]
            predicting = await http.post(f"/api/v1/models/{model_id}/predict",
                                         json={"dataset_id": new_id})
            assert predicting.status_code == 202, predicting.text
            prediction_id = predicting.json()["job_id"]
            done = await _finished(sock, prediction_id)
            assert done["kind"] == "prediction"
            stages = [p["stage"] for p in _events(sock, "job.progress", prediction_id)]
            assert stages[0] == "queued" and "predicting" in stages
            rows = (await http.get(f"/api/v1/datasets/{done['result']['dataset_id']}/rows",
                                   params={"limit": 100})).json()["rows"]
            assert sum(r["prediction"] == t for r, t in zip(rows, truth, strict=True)) >= 85
    finally:
        await sock.close()
