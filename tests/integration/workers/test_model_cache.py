"""Row predictions read a saved model from object storage once, not on every call, and
deleting the model forgets it (embedded default, through the REST API)."""

from __future__ import annotations

import httpx

from core.store.models_saved import model_prefix
from roomcast.factory import Services
from tests.integration.workers.conftest import Member
from tests.integration.workers.objects import CountingObjects
from tests.integration.workers.test_models import dataset_of, labelled_csv, trained

ROWS = {"rows": [{"x": 0, "y": 0}, {"x": 8, "y": 8}, {"x": 0, "y": 8}]}


async def test_repeated_row_predictions_read_the_model_once(
    services: Services, client: httpx.AsyncClient, member: Member
) -> None:
    training, _ = labelled_csv(150, seed=0)
    dataset_id = await dataset_of(client, member, "train.csv", training)
    forest = (await trained(client, member, dataset_id, algorithm="random_forest",
                            target="kind", n_estimators=5))["result"]["model_id"]
    clusters = (await trained(client, member, dataset_id, algorithm="kmeans", k=3)
                )["result"]["model_id"]
    counting = CountingObjects(services.ctx.objects)
    services.ctx.objects = counting

    async def predict(model_id: str) -> httpx.Response:
        return await client.post(f"/api/v1/models/{model_id}/predict", json=ROWS,
                                 headers=member.headers)

    answers = [(await predict(forest)).json() for _ in range(3)]
    assert answers[0]["predictions"] == ["a", "b", "c"] and answers.count(answers[0]) == 3
    await predict(clusters)
    await predict(clusters)
    reads = {m: counting.gets[model_prefix(m) + "arrays.npz"] for m in (forest, clusters)}
    assert reads == {forest: 1, clusters: 1}
    assert counting.gets[model_prefix(forest) + "model.json"] == 1

    deleted = await client.delete(f"/api/v1/models/{forest}", headers=member.headers)
    assert deleted.status_code == 204
    cache = services.ctx.model_cache()
    assert len(cache) == 1  # the k-means model only
    assert (await predict(forest)).status_code == 404
    assert (await predict(clusters)).status_code == 200
    assert counting.gets[model_prefix(clusters) + "arrays.npz"] == 1
