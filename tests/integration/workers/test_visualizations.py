"""Charts made by the job runner in-process: every kind to PNG, SVG and a bounded Vega-Lite
spec; specs that do not fit refused with nothing stored; the same spec on the same dataset
version served from the stored chart; a record change makes a new version."""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from matplotlib.image import imread

from roomcast.factory import Services
from tests.integration.workers.conftest import Member, wait_job
from tests.integration.workers.test_records import table_dataset
from tests.support.domain import record_events

PNG = b"\x89PNG\r\n\x1a\n"
SPEC_BYTES = 512 * 1024  # the Vega-Lite spec of any chart stays under this

KINDS: list[dict[str, Any]] = [
    {"kind": "histogram", "x": "x", "bins": 30, "group_by": "ok"},
    {"kind": "bar", "x": "label", "y": "x", "aggregation": "mean"},
    {"kind": "bar", "x": "ok", "group_by": "ok"},
    {"kind": "line", "x": "at", "y": "x", "aggregation": "max", "bins": 10},
    {"kind": "line", "x": "n", "bins": 5},
    {"kind": "scatter", "x": "n", "y": "x", "group_by": "ok"},
    {"kind": "box", "y": "x", "x": "ok"},
    {"kind": "heatmap"},
]


async def make_chart(client: httpx.AsyncClient, member: Member, dataset_id: str,
                     spec: dict[str, Any]) -> dict[str, Any]:
    started = await client.post(f"/api/v1/datasets/{dataset_id}/visualizations", json=spec,
                                headers=member.headers)
    assert started.status_code == 202, started.text
    job = await wait_job(client, member, started.json()["job_id"])
    assert job["status"] == "succeeded", job
    chart = await client.get(started.headers["Location"], headers=member.headers)
    assert chart.status_code == 200
    body: dict[str, Any] = chart.json()
    return body


@pytest.mark.parametrize("spec", KINDS, ids=lambda s: f"{s['kind']}-{s.get('x')}")
async def test_every_kind_renders_png_svg_and_a_bounded_spec(
    services: Services, client: httpx.AsyncClient, member: Member, spec: dict[str, Any]
) -> None:
    dataset = await table_dataset(services, member.project_id, member.caller.id, rows=3000)
    chart = await make_chart(client, member, dataset.id, spec)
    assert chart["status"] == "succeeded" and chart["rows"] == 3000
    png = await client.get(chart["png_url"], headers=member.headers)
    assert png.status_code == 200 and png.content.startswith(PNG)
    pixels = imread(io.BytesIO(png.content), format="png")
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert float(np.std(pixels)) > 0.01  # something is drawn, not a blank canvas
    svg = await client.get(chart["svg_url"], headers=member.headers)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content
    vega = chart["vega"]
    assert vega["$schema"].startswith("https://vega.github.io/schema/vega-lite/v5")
    values = vega["data"]["values"]
    assert 0 < len(values) == chart["points"] <= 2000
    assert len(orjson.dumps(vega)) < SPEC_BYTES


async def test_the_numbers_are_the_tables(
    services: Services, client: httpx.AsyncClient, member: Member
) -> None:
    dataset = await table_dataset(services, member.project_id, member.caller.id, rows=1000)
    histogram = await make_chart(client, member, dataset.id,
                                 {"kind": "histogram", "x": "n", "bins": 4})
    counts = [v["count"] for v in histogram["vega"]["data"]["values"]]
    assert counts == [250, 250, 250, 250]
    bars = await make_chart(client, member, dataset.id,
                            {"kind": "bar", "x": "ok", "y": "n", "aggregation": "sum"})
    sums = {v["x"]: v["value"] for v in bars["vega"]["data"]["values"]}
    assert sums == {"true": float(sum(range(0, 1000, 2))),
                    "false": float(sum(range(1, 1000, 2)))}
    boxes = await make_chart(client, member, dataset.id, {"kind": "box", "y": "n"})
    only = boxes["vega"]["data"]["values"][0]
    assert (only["min"], only["median"], only["max"], only["count"]) == (0, 499.5, 999, 1000)
    heat = await make_chart(client, member, dataset.id,
                            {"kind": "heatmap", "columns": ["n", "x"]})
    assert [round(v["r"], 9) for v in heat["vega"]["data"]["values"]] == [1, 1, 1, 1]


async def test_specs_that_do_not_fit_are_refused_and_nothing_is_stored(
    services: Services, client: httpx.AsyncClient, member: Member
) -> None:
    dataset = await table_dataset(services, member.project_id, member.caller.id, rows=10)
    url = f"/api/v1/datasets/{dataset.id}/visualizations"
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"kind": "histogram", "x": "nope"}, "x", "unknown_column"),
        ({"kind": "histogram", "x": "label"}, "x", "wrong_type"),
        ({"kind": "histogram"}, "x", "missing_field"),
        ({"kind": "scatter", "x": "n", "y": "ok"}, "y", "wrong_type"),
        ({"kind": "line", "x": "label", "y": "x"}, "x", "wrong_type"),
        ({"kind": "bar", "x": "label", "aggregation": "mean"}, "y", "missing_field"),
        ({"kind": "box", "y": "x", "group_by": "ghost"}, "group_by", "unknown_column"),
        ({"kind": "heatmap", "columns": ["n", "label"]}, "columns", "wrong_type"),
        ({"kind": "heatmap", "columns": ["n", "n"]}, "columns", "missing_field"),
    ]
    for spec, field, kind in cases:
        response = await client.post(url, json=spec, headers=member.headers)
        assert response.status_code == 422, (spec, response.text)
        error = response.json()["error"]
        assert error["code"] == "invalid_chart"
        assert {"loc": ["body", field], "type": kind} == {
            k: error["details"][0][k] for k in ("loc", "type")}
    for spec in ({"kind": "pie", "x": "n"}, {"kind": "histogram", "x": "n", "bins": 1},
                 {"kind": "histogram", "x": "n", "colour": "red"}):
        response = await client.post(url, json=spec, headers=member.headers)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "validation_error"
    assert (await services.ctx.stores.visualizations.list_for_dataset(
        dataset.id, _page())).total == 0
    assert (await services.ctx.stores.jobs.list_for_project(member.project_id,
                                                            _page())).total == 0


def _page() -> Any:
    from core.models import PageParams

    return PageParams()


async def test_same_spec_same_version_is_served_from_the_stored_chart(
    services: Services, client: httpx.AsyncClient, member: Member
) -> None:
    dataset = await table_dataset(services, member.project_id, member.caller.id, rows=100)
    url = f"/api/v1/datasets/{dataset.id}/visualizations"
    spec = {"kind": "histogram", "x": "n", "bins": 5}
    first = await make_chart(client, member, dataset.id, spec)
    events = record_events(services)
    again = await client.post(url, json={"bins": 5, "x": "n", "kind": "histogram"},
                              headers=member.headers)
    assert again.status_code == 200
    assert again.json()["id"] == first["id"] and again.json()["cached"] is True
    assert again.json()["vega"] == first["vega"]
    assert not events.calls  # no job, no event
    jobs = await services.ctx.stores.jobs.list_for_project(member.project_id, _page())
    assert jobs.total == 1

    # A record change is a new dataset version: the chart is made again, with the change.
    edit = await client.patch(f"/api/v1/datasets/{dataset.id}/records/0",
                              json={"values": {"n": 1000}},
                              headers={**member.headers, "If-Match": '"1"'})
    assert edit.status_code == 200
    second = await make_chart(client, member, dataset.id, spec)
    assert second["id"] != first["id"]
    assert second["dataset_version"] == first["dataset_version"] + 1
    assert second["vega"]["data"]["values"][-1]["bin_end"] == 1000
    listed = (await client.get(url, headers=member.headers)).json()
    assert [c["id"] for c in listed["items"]] == [second["id"], first["id"]]


async def test_delete_removes_the_chart_and_its_images(
    services: Services, client: httpx.AsyncClient, member: Member
) -> None:
    dataset = await table_dataset(services, member.project_id, member.caller.id, rows=50)
    chart = await make_chart(client, member, dataset.id, {"kind": "scatter", "x": "n",
                                                          "y": "x"})
    doc = await services.ctx.stores.visualizations.get(chart["id"])
    assert doc is not None and doc.png_key and doc.svg_key
    assert await services.ctx.objects.exists(doc.png_key)
    events = record_events(services)
    deleted = await client.delete(f"/api/v1/visualizations/{chart['id']}",
                                  headers=member.headers)
    assert deleted.status_code == 204
    assert not await services.ctx.objects.exists(doc.png_key)
    assert not await services.ctx.objects.exists(doc.svg_key)
    assert (await client.get(f"/api/v1/visualizations/{chart['id']}",
                             headers=member.headers)).status_code == 404
    assert [e[1] for e in events.of("emit")] == ["visualization.deleted"]
