"""Records: a dataset edited row by row over REST, read back merged with its Parquet rows,
refused when a row does not fit, and exported as CSV, XLSX and Parquet."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from openpyxl import load_workbook

from api.app import create_app
from core.store.datasets import ColumnSchema, ColumnStats, DatasetDoc
from roomcast.factory import Services
from tests.integration.workers.conftest import Member
from tests.support.domain import RecordingEmitter, make_user, record_events
from workers.ingest.pipeline import dataset_key

ROWS, GROUP = 1_000, 100


async def table_dataset(services: Services, project_id: str, created_by: str,
                        rows: int = ROWS) -> DatasetDoc:
    """A dataset of `rows` rows in row groups of GROUP, as the ingestion would store it."""
    table = pa.table({
        "n": pa.array(range(rows), pa.int64()),
        "x": pa.array([i / 2 for i in range(rows)], pa.float64()),
        "ok": pa.array([i % 2 == 0 for i in range(rows)]),
        "at": pa.array([datetime(2026, 1, 1 + i % 28) for i in range(rows)], pa.timestamp("us")),
        "label": pa.array([f"row-{i}" for i in range(rows)]),
    })
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=GROUP)
    dataset_id = f"t{project_id}"
    key = dataset_key(dataset_id)
    await services.ctx.objects.put_bytes(key, buffer.getvalue(), content_type="x/parquet")
    stats = ColumnStats(count=rows, nulls=0, distinct=rows)
    types = {"n": "integer", "x": "float", "ok": "boolean", "at": "datetime", "label": "string"}
    dataset = DatasetDoc(
        id=dataset_id, project_id=project_id, upload_id="u", job_id="j", name="table.csv",
        format="csv", rows=rows, object_key=key, created_by=created_by,
        columns=[ColumnSchema(name=n, type=t, stats=stats) for n, t in types.items()])
    return await services.ctx.stores.datasets.save(dataset)


def etag(version: int) -> dict[str, str]:
    return {"If-Match": f'"{version}"'}


async def test_edit_delete_add_then_read_the_merged_table(
    services: Services, client: httpx.AsyncClient, member: Member
) -> None:
    dataset = await table_dataset(services, member.project_id, member.caller.id)
    base, h = f"/api/v1/datasets/{dataset.id}", member.headers
    row = await client.get(f"{base}/records/150", headers=h)
    assert row.status_code == 200 and row.headers["ETag"] == '"1"'
    assert row.json()["values"]["label"] == "row-150"
    edited = await client.patch(f"{base}/records/150", json={"values": {"label": "changed",
                                "x": 3, "at": "2026-03-01T12:00:00+02:00"}},
                                headers={**h, **etag(1)})
    assert edited.status_code == 200, edited.text
    assert edited.headers["ETag"] == '"2"'
    assert edited.json()["values"] == {"n": 150, "x": 3.0, "ok": True,
                                       "at": "2026-03-01T10:00:00", "label": "changed"}
    for gone in (3, 99, 100, 101):  # across a row group's edge
        response = await client.delete(f"{base}/records/{gone}", headers={**h, **etag(1)})
        assert response.status_code == 204, response.text
    added = await client.post(f"{base}/records", json={"values": {"n": -1, "label": "new"}},
                              headers=h)
    assert added.status_code == 201, added.text
    assert added.json()["row"] == ROWS and added.json()["version"] == 1
    assert added.json()["values"]["x"] is None

    page = (await client.get(f"{base}/records", params={"offset": 95, "limit": 10},
                             headers=h)).json()
    assert page["total"] == ROWS - 4 + 1
    assert [r["row"] for r in page["items"]] == [96, 97, 98, *range(102, 109)]
    rows = (await client.get(f"{base}/rows", params={"offset": 145, "limit": 2},
                             headers=h)).json()
    assert rows["total"] == ROWS - 3
    assert [r["label"] for r in rows["rows"]] == ["row-149", "changed"]
    tail = (await client.get(f"{base}/records", params={"offset": ROWS - 5, "limit": 50},
                             headers=h)).json()
    assert [r["row"] for r in tail["items"]] == [999, ROWS]
    assert (await client.get(f"{base}/records/3", headers=h)).status_code == 404
    described = (await client.get(f"{base}", headers=h)).json()
    assert (described["rows"], described["version"]) == (ROWS, 7)  # 1 + six changes


async def test_a_stale_version_gets_409_with_the_row_as_it_is(
    services: Services, client: httpx.AsyncClient, member: Member
) -> None:
    dataset = await table_dataset(services, member.project_id, member.caller.id, rows=10)
    url, h = f"/api/v1/datasets/{dataset.id}/records/4", member.headers
    first = await client.patch(url, json={"values": {"label": "first"}}, headers={**h, **etag(1)})
    assert first.status_code == 200
    late = await client.patch(url, json={"values": {"label": "late"}}, headers={**h, **etag(1)})
    assert late.status_code == 409
    error = late.json()["error"]
    assert error["code"] == "version_conflict"
    assert error["details"]["current"]["version"] == 2
    assert error["details"]["current"]["values"]["label"] == "first"
    missing = await client.patch(url, json={"values": {"label": "x"}}, headers=h)
    assert missing.status_code == 428
    assert missing.json()["error"]["code"] == "version_required"
    stale_delete = await client.delete(url, headers={**h, **etag(1)})
    assert stale_delete.status_code == 409
    assert (await client.get(url, headers=h)).json()["values"]["label"] == "first"


async def test_bad_rows_are_refused_and_nothing_is_stored(
    services: Services, client: httpx.AsyncClient, member: Member
) -> None:
    dataset = await table_dataset(services, member.project_id, member.caller.id, rows=10)
    events = record_events(services)
    base, h = f"/api/v1/datasets/{dataset.id}", member.headers
    cases: list[tuple[dict[str, Any], str]] = [
        ({"nope": 1}, "unknown_column"),
        ({"n": "5"}, "type_mismatch"),
        ({"n": 1.5}, "type_mismatch"),
        ({"n": 2**63}, "type_mismatch"),
        ({"x": True}, "type_mismatch"),
        ({"ok": 1}, "type_mismatch"),
        ({"at": "yesterday"}, "type_mismatch"),
        ({"label": 7}, "type_mismatch"),
        ({"label": "x" * 10_001}, "type_mismatch"),
    ]
    for values, kind in cases:
        for response in (
            await client.post(f"{base}/records", json={"values": values}, headers=h),
            await client.patch(f"{base}/records/2", json={"values": values},
                               headers={**h, **etag(1)}),
        ):
            assert response.status_code == 422, (values, response.text)
            error = response.json()["error"]
            assert error["code"] == "invalid_record", error
            assert error["details"][0]["type"] == kind
    # A column of a type rows cannot be given (one a later ingestion may add) is refused too.
    stats = dataset.columns[0].stats
    odd = dataset.model_copy(update={"columns": [
        *dataset.columns, ColumnSchema(name="span", type="interval", stats=stats)]})
    await services.ctx.stores.datasets.save(odd)
    response = await client.post(f"{base}/records", json={"values": {"span": "1d"}}, headers=h)
    assert response.json()["error"]["details"][0]["type"] == "unsupported_column"
    assert await services.ctx.stores.records.for_dataset(dataset.id) == []
    after = await services.ctx.stores.datasets.get(dataset.id)
    assert after is not None and (after.version, after.rows_added) == (1, 0)
    assert not [e for e in events.of("emit") if e[1].startswith("record.")]


async def test_changes_reach_the_project_room_and_strangers_get_404(
    services: Services, client: httpx.AsyncClient, member: Member
) -> None:
    dataset = await table_dataset(services, member.project_id, member.caller.id, rows=10)
    events: RecordingEmitter = record_events(services)
    base, h = f"/api/v1/datasets/{dataset.id}", member.headers
    await client.patch(f"{base}/records/1", json={"values": {"n": 10}}, headers={**h, **etag(1)})
    await client.post(f"{base}/records", json={"values": {"n": 11}}, headers=h)
    await client.delete(f"{base}/records/1", headers={**h, **etag(2)})
    sent = [(room, event, data) for room, event, data in events.of("emit")]
    assert [event for _, event, _ in sent] == ["record.updated", "record.created",
                                               "record.deleted"]
    assert {room for room, _, _ in sent} == {f"project:{member.project_id}"}
    assert [(d["row"], d["version"], d["dataset_version"]) for _, _, d in sent] == [
        (1, 2, 2), (10, 1, 3), (1, 3, 4)]
    assert sent[0][2]["values"]["n"] == 10 and "values" not in sent[2][2]
    stranger = await make_user(services, "stranger")
    for response in (
        await client.get(f"{base}/records", headers=stranger.headers),
        await client.post(f"{base}/records", json={"values": {}}, headers=stranger.headers),
        await client.patch(f"{base}/records/2", json={"values": {"n": 1}},
                           headers={**stranger.headers, **etag(1)}),
    ):
        assert response.status_code == 404


async def test_exports_hold_the_current_table(
    services: Services, client: httpx.AsyncClient, member: Member
) -> None:
    dataset = await table_dataset(services, member.project_id, member.caller.id, rows=250)
    base, h = f"/api/v1/datasets/{dataset.id}", member.headers
    await client.patch(f"{base}/records/120", json={"values": {"label": "edited"}},
                       headers={**h, **etag(1)})
    await client.delete(f"{base}/records/0", headers={**h, **etag(1)})
    await client.post(f"{base}/records", json={"values": {"n": 999, "label": "added"}},
                      headers=h)

    def check(labels: list[Any], numbers: list[Any]) -> None:
        assert len(labels) == 250
        assert labels[0] == "row-1" and labels[119] == "edited" and labels[-1] == "added"
        assert numbers[-1] == 999 and numbers[:2] == [1, 2]

    parquet = await client.get(f"{base}/export", params={"format": "parquet"}, headers=h)
    assert parquet.status_code == 200, parquet.text
    table = pq.read_table(io.BytesIO(parquet.content))
    check(table.column("label").to_pylist(), table.column("n").to_pylist())
    assert table.schema.field("at").type == pa.timestamp("us")

    csv = await client.get(f"{base}/export", params={"format": "csv"}, headers=h)
    assert csv.headers["content-type"].startswith("text/csv")
    assert 'filename="table.csv"' in csv.headers["content-disposition"]
    table = pacsv.read_csv(io.BytesIO(csv.content))
    check(table.column("label").to_pylist(), table.column("n").to_pylist())

    xlsx = await client.get(f"{base}/export", params={"format": "xlsx"}, headers=h)
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).active
    assert sheet is not None
    cells = list(sheet.iter_rows(values_only=True))
    assert cells[0] == ("n", "x", "ok", "at", "label")
    check([c[4] for c in cells[1:]], [c[0] for c in cells[1:]])

    wrong = await client.get(f"{base}/export", params={"format": "pdf"}, headers=h)
    assert wrong.status_code == 422


async def test_a_parquet_export_streams_from_either_storage(storage_services: Services) -> None:
    services = storage_services
    caller = await make_user(services, "exporter")
    project = await services.ctx.stores.projects.create(name="E", owner_id=caller.id)
    dataset = await table_dataset(services, project.id, caller.id, rows=300)
    transport = httpx.ASGITransport(app=create_app(services.ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        base = f"/api/v1/datasets/{dataset.id}"
        await http.patch(f"{base}/records/299", json={"values": {"label": "last"}},
                         headers={**caller.headers, **etag(1)})
        exported = await http.get(f"{base}/export", params={"format": "parquet"},
                                  headers=caller.headers)
    table = pq.read_table(io.BytesIO(exported.content))
    assert table.num_rows == 300 and table.column("label")[299].as_py() == "last"
    assert pq.ParquetFile(io.BytesIO(exported.content)).metadata.num_row_groups == 3
