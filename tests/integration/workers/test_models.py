"""Saved models on the embedded default: train, then predict rows at once or a new upload as a
job; regression; the algorithm catalogue; and every bad input with its code."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import jsonschema
import numpy as np

from api.app import create_app
from roomcast.factory import Services, build_services
from tests.integration.workers.conftest import Member, upload, wait_job
from tests.integration.workers.test_pipeline_embedded import PNG
from tests.support.domain import RecordingEmitter, make_user

CENTERS = {"a": (0.0, 0.0), "b": (8.0, 8.0), "c": (0.0, 8.0)}


def labelled_csv(n: int, seed: int, with_label: bool = True) -> tuple[bytes, list[str]]:
    """Three separated blobs, x and y, with the blob's name as `kind` (or only x, y)."""
    rng = np.random.default_rng(seed)
    names = list(CENTERS)
    rows, truth = [("x,y,kind" if with_label else "x,y")], []
    for i in range(n):
        name = names[i % 3]
        x, y = np.array(CENTERS[name]) + rng.normal(size=2)
        rows.append(f"{x:.4f},{y:.4f}" + (f",{name}" if with_label else ""))
        truth.append(name)
    return ("\n".join(rows) + "\n").encode(), truth


async def dataset_of(http: httpx.AsyncClient, member: Member, name: str, content: bytes) -> str:
    response = await upload(http, member, name, content)
    assert response.status_code == 202, response.text
    job = await wait_job(http, member, response.json()["job_id"])
    assert job["status"] == "succeeded", job
    return str(job["result"]["dataset_id"])


async def trained(http: httpx.AsyncClient, member: Member, dataset_id: str,
                  **params: Any) -> dict[str, Any]:
    started = await http.post(f"/api/v1/datasets/{dataset_id}/analyses", json=params,
                              headers=member.headers)
    assert started.status_code == 202, started.text
    job = await wait_job(http, member, started.json()["job_id"])
    assert job["status"] == "succeeded", job
    return job


async def all_rows(http: httpx.AsyncClient, member: Member,
                   dataset_id: str) -> list[dict[str, Any]]:
    page = await http.get(f"/api/v1/datasets/{dataset_id}/rows?limit=500",
                          headers=member.headers)
    assert page.status_code == 200, page.text
    rows: list[dict[str, Any]] = page.json()["rows"]
    return rows


async def test_upload_train_then_predict_a_new_upload(
    client: httpx.AsyncClient, member: Member, recorder: RecordingEmitter
) -> None:
    training, _ = labelled_csv(300, seed=0)
    dataset_id = await dataset_of(client, member, "train.csv", training)
    job = await trained(client, member, dataset_id, algorithm="random_forest", target="kind",
                        n_estimators=10, criterion="entropy")
    model_id = job["result"]["model_id"]
    assert model_id == job["id"] and job["result"]["criterion"] == "entropy"
    model = (await client.get(f"/api/v1/models/{model_id}", headers=member.headers)).json()
    assert (model["task"], model["features"], model["classes"]) == (
        "classification", ["x", "y"], ["a", "b", "c"])
    assert model["metrics"]["accuracy"] == job["result"]["accuracy"]
    listed = (await client.get(f"/api/v1/projects/{member.project_id}/models",
                               headers=member.headers)).json()
    assert [m["id"] for m in listed["items"]] == [model_id]

    fresh, truth = labelled_csv(120, seed=1, with_label=False)
    new_id = await dataset_of(client, member, "new.csv", fresh)
    started = await client.post(f"/api/v1/models/{model_id}/predict",
                                json={"dataset_id": new_id}, headers=member.headers)
    assert started.status_code == 202, started.text
    assert started.headers["location"] == f"/api/v1/jobs/{started.json()['job_id']}"
    done = await wait_job(client, member, started.json()["job_id"])
    assert done["status"] == "succeeded", done
    assert done["kind"] == "prediction" and done["result"]["source_dataset_id"] == new_id
    predicted = done["result"]["dataset_id"]
    rows = await all_rows(client, member, predicted)
    assert len(rows) == 120 and set(rows[0]) == {"x", "y", "prediction", "probability"}
    right = sum(r["prediction"] == t for r, t in zip(rows, truth, strict=True))
    assert right >= 115 and all(0 < r["probability"] <= 1 for r in rows)
    stages = {data["stage"] for kind, (room, event, data) in recorder.calls
              if kind == "emit" and event == "job.progress"
              and data["job_id"] == done["id"]}
    assert "predicting" in stages
    described = (await client.get(f"/api/v1/datasets/{predicted}", headers=member.headers))
    assert {c["name"]: c["type"] for c in described.json()["columns"]}["probability"] == "float"


async def test_predict_rows_of_each_kind_of_model(client: httpx.AsyncClient,
                                                  member: Member) -> None:
    training, _ = labelled_csv(300, seed=0)
    dataset_id = await dataset_of(client, member, "train.csv", training)
    rows = [{"x": 0.1, "y": -0.2}, {"x": 8.2, "y": 7.9, "kind": "ignored"}]

    tree = await trained(client, member, dataset_id, algorithm="decision_tree", target="kind")
    answer = await client.post(f"/api/v1/models/{tree['id']}/predict", json={"rows": rows},
                               headers=member.headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["predictions"] == ["a", "b"] and body["task"] == "classification"
    assert body["probabilities"][0]["a"] == 1.0 and set(body["probabilities"][1]) == set("abc")

    clusters = await trained(client, member, dataset_id, algorithm="kmeans", k=3)
    answer = await client.post(f"/api/v1/models/{clusters['id']}/predict",
                               json={"rows": rows}, headers=member.headers)
    labels = answer.json()["predictions"]
    assert len(set(labels)) == 2 and answer.json()["probabilities"] is None
    download = await client.get(f"/api/v1/models/{clusters['id']}/labels",
                                headers=member.headers)
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(download.text)))
    assert len(table) == 300 and table[0]["row"] == "0"
    sizes = np.bincount([int(r["cluster"]) for r in table])
    assert sorted(sizes.tolist()) == [100, 100, 100]
    assert sizes.tolist() == clusters["result"]["cluster_sizes"]
    no_labels = await client.get(f"/api/v1/models/{tree['id']}/labels", headers=member.headers)
    assert no_labels.status_code == 404


async def test_regression_reports_its_scores_and_predicts_values(
    client: httpx.AsyncClient, member: Member
) -> None:
    rng = np.random.default_rng(4)
    lines = ["a,b,price"] + [f"{a:.3f},{b:.3f},{3 * a - b + rng.normal(0, 0.1) + 1e6:.3f}"
                             for a, b in rng.uniform(0, 10, size=(400, 2))]
    dataset_id = await dataset_of(client, member, "prices.csv", ("\n".join(lines) + "\n").encode())
    for algorithm in ("decision_tree_regressor", "random_forest_regressor"):
        forest = {"n_estimators": 20} if algorithm.startswith("random_forest") else {}
        job = await trained(client, member, dataset_id, algorithm=algorithm, target="price",
                            standardize=False, **forest)
        result = job["result"]
        assert result["r2"] > 0.9 and result["mae"] < 2.0 and result["rmse"] >= result["mae"]
        assert set(result["importances"]) == {"a", "b"}
        names = {p["name"] for p in result["pictures"]}
        assert names == {"importances.png", "predicted.png"}
        picture = await client.get(f"/api/v1/jobs/{job['id']}/artifacts/predicted.png",
                                   headers=member.headers)
        assert picture.content.startswith(PNG)
        answer = await client.post(f"/api/v1/models/{job['id']}/predict",
                                   json={"rows": [{"a": 5, "b": 5}]}, headers=member.headers)
        assert abs(answer.json()["predictions"][0] - (1e6 + 10)) < 2.0


async def test_bad_predictions_are_refused_with_their_codes(
    services: Services, client: httpx.AsyncClient, member: Member
) -> None:
    training, _ = labelled_csv(90, seed=0)
    dataset_id = await dataset_of(client, member, "train.csv", training)
    model_id = (await trained(client, member, dataset_id, algorithm="decision_tree",
                              target="kind"))["id"]
    url = f"/api/v1/models/{model_id}/predict"

    async def refused(body: Any, status: int = 422) -> dict[str, Any]:
        answer = await client.post(url, json=body, headers=member.headers)
        assert answer.status_code == status, answer.text
        error: dict[str, Any] = answer.json()["error"]
        return error

    error = await refused({"rows": [{"x": 1.0}, {"x": "1", "y": 2}, {"x": True, "y": None}]})
    assert error["code"] == "validation_error"
    assert [(d["loc"], d["type"]) for d in error["details"]] == [
        (["body", "rows", 0, "y"], "missing_feature"),
        (["body", "rows", 1, "x"], "not_a_number"),
        (["body", "rows", 2, "x"], "not_a_number"),
        (["body", "rows", 2, "y"], "not_a_number"),
    ]
    too_many = await refused({"rows": [{"x": 1, "y": 1}] * 1001})
    assert too_many["details"][0]["type"] == "too_long"
    for body in ({}, {"rows": [{"x": 1, "y": 1}], "dataset_id": dataset_id}, {"rows": []}):
        assert (await refused(body))["code"] == "validation_error"
    missing = await refused({"dataset_id": "no-such-dataset"}, 404)
    assert missing["code"] == "not_found"

    labels_only = await dataset_of(client, member, "names.csv", b"name\nann\nbob\n")
    lacking = await refused({"dataset_id": labels_only})
    assert {d["type"] for d in lacking["details"]} == {"missing_feature"}
    other = await services.ctx.stores.projects.create(name="Other", owner_id=member.caller.id)
    elsewhere = Member(member.caller, other.id)
    foreign = await dataset_of(client, elsewhere, "train.csv", training)
    assert (await refused({"dataset_id": foreign}))["details"][0]["type"] == "other_project"

    unknown = await client.post("/api/v1/models/nope/predict", json={"rows": [{"x": 1, "y": 1}]},
                                headers=member.headers)
    assert unknown.status_code == 404
    outsider = await make_user(services, "outsider")
    for method, path, body in (("GET", f"/api/v1/models/{model_id}", None),
                               ("POST", url, {"rows": [{"x": 1, "y": 1}]}),
                               ("GET", f"/api/v1/models/{model_id}/labels", None),
                               ("DELETE", f"/api/v1/models/{model_id}", None),
                               ("GET", f"/api/v1/projects/{member.project_id}/models", None)):
        answer = await client.request(method, path, json=body, headers=outsider.headers)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json()["error"]["code"] == "not_found"

    deleted = await client.delete(f"/api/v1/models/{model_id}", headers=member.headers)
    assert deleted.status_code == 204
    assert (await client.get(f"/api/v1/models/{model_id}", headers=member.headers)
            ).status_code == 404
    assert not await services.ctx.objects.exists(f"models/{model_id}/arrays.npz")


async def test_analysis_parameters_are_checked_up_front(client: httpx.AsyncClient,
                                                        member: Member) -> None:
    training, _ = labelled_csv(30, seed=0)
    dataset_id = await dataset_of(client, member, "train.csv", training)
    url = f"/api/v1/datasets/{dataset_id}/analyses"
    for body, kind in (
        ({"algorithm": "random_forest", "target": "kind", "features": ["x", "kind"]},
         "target_in_features"),
        ({"algorithm": "decision_tree", "target": "kind", "criterion": "squared_error"},
         "criterion_mismatch"),
        ({"algorithm": "kmeans", "target": ""}, "string_too_short"),
        ({"algorithm": "kmeans", "target": "kind"}, "parameter_not_applicable"),
        ({"algorithm": "decision_tree", "target": "kind", "k": 3}, "parameter_not_applicable"),
        ({"algorithm": "random_forest_regressor", "target": "x", "restarts": 2},
         "parameter_not_applicable"),
        ({"algorithm": "kmeans", "features": ["x", "x"]}, "duplicate_feature"),
        ({"algorithm": "kmeans", "features": [""]}, "string_too_short"),
    ):
        answer = await client.post(url, json=body, headers=member.headers)
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert (error["code"], error["details"][0]["type"]) == ("validation_error", kind), body
    listed = await client.get(f"/api/v1/projects/{member.project_id}/jobs",
                              headers=member.headers)
    assert all(job["kind"] != "analysis" for job in listed.json()["items"])  # none queued
    numeric = await client.post(url, json={"algorithm": "decision_tree_regressor",
                                           "target": "kind"}, headers=member.headers)
    assert numeric.status_code == 422
    assert "not numeric" in numeric.json()["error"]["details"][0]["message"]


async def test_kmeans_with_more_clusters_than_distinct_points_fails_clearly(
    client: httpx.AsyncClient, member: Member
) -> None:
    content = b"x,y\n" + b"1,1\n" * 10 + b"2,2\n" * 10
    dataset_id = await dataset_of(client, member, "two.csv", content)
    started = await client.post(f"/api/v1/datasets/{dataset_id}/analyses",
                                json={"algorithm": "kmeans", "k": 3}, headers=member.headers)
    job = await wait_job(client, member, started.json()["job_id"])
    assert (job["status"], job["error_code"]) == ("failed", "invalid_parameters")
    assert "k=3 exceeds the 2 distinct points" in job["error_message"]
    gone = await client.get(f"/api/v1/models/{job['id']}", headers=member.headers)
    assert gone.status_code == 404


async def test_the_algorithms_catalogue_builds_valid_forms(client: httpx.AsyncClient,
                                                           member: Member) -> None:
    answer = await client.get("/api/v1/ml/algorithms", headers=member.headers)
    assert answer.status_code == 200
    algorithms = {a["name"]: a for a in answer.json()["algorithms"]}
    assert set(algorithms) == {"kmeans", "decision_tree", "random_forest",
                               "decision_tree_regressor", "random_forest_regressor"}
    training, _ = labelled_csv(60, seed=0)
    dataset_id = await dataset_of(client, member, "train.csv", training)
    for name, algorithm in algorithms.items():
        schema = algorithm["parameters"]
        jsonschema.Draft202012Validator.check_schema(schema)
        # A form filled with every default (and a target where one is needed) is accepted.
        body = {key: spec["default"] for key, spec in schema["properties"].items()
                if "default" in spec}
        body["algorithm"] = name
        if algorithm["needs_target"]:
            body["target"] = "kind" if algorithm["task"] == "classification" else "x"
            body["features"] = ["y"]
        jsonschema.validate(body, schema)
        started = await client.post(f"/api/v1/datasets/{dataset_id}/analyses", json=body,
                                    headers=member.headers)
        assert started.status_code == 202, (name, started.text)
        with_extra = {**body, "unknown": 1}
        assert not jsonschema.Draft202012Validator(schema).is_valid(with_extra)
    assert algorithms["decision_tree"]["parameters"]["properties"]["criterion"]["enum"] == [
        "gini", "entropy"]
    assert "k" not in algorithms["random_forest"]["parameters"]["properties"]
    unauthenticated = await client.get("/api/v1/ml/algorithms")
    assert unauthenticated.status_code == 401


async def test_a_prediction_job_cancelled_midway_leaves_no_dataset(make_settings: Any) -> None:
    # Every step pauses, so the cancel lands while the job runs.
    built = build_services(make_settings(job_step_delay_ms=300))
    await built.start()
    try:
        caller = await make_user(built, "member")
        project = await built.ctx.stores.projects.create(name="P", owner_id=caller.id)
        member = Member(caller, project.id)
        transport = httpx.ASGITransport(app=create_app(built.ctx))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            training, _ = labelled_csv(60, seed=0)
            dataset_id = await dataset_of(http, member, "train.csv", training)
            model = await trained(http, member, dataset_id, algorithm="decision_tree",
                                  target="kind")
            started = await http.post(f"/api/v1/models/{model['id']}/predict",
                                      json={"dataset_id": dataset_id}, headers=member.headers)
            job_id = started.json()["job_id"]
            await wait_job(http, member, job_id, until=("running",))
            cancel = await http.post(f"/api/v1/jobs/{job_id}/cancel", headers=member.headers)
            assert cancel.status_code == 202
            job = await wait_job(http, member, job_id)
        assert (job["status"], job["result"]) == ("cancelled", None)
        assert await built.ctx.stores.datasets.get(job_id) is None
        assert not await built.ctx.objects.exists(f"datasets/{job_id}/data.parquet")
    finally:
        await built.close()
