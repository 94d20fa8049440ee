"""The row preview reads the row groups a page needs, not the whole Parquet file."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from api.app import create_app
from core.store.datasets import ColumnSchema, ColumnStats, DatasetDoc
from roomcast.factory import Services
from tests.integration.workers.conftest import Member, upload, wait_job
from tests.integration.workers.objects import CountingObjects
from tests.integration.workers.test_pipeline_embedded import blobs_csv
from tests.support.domain import make_user
from workers.ingest.pipeline import dataset_key, row_group_rows

ROWS, GROUP = 100_000, 5_000


async def _dataset(services: Services, project_id: str, created_by: str) -> DatasetDoc:
    """A dataset of ROWS rows in row groups of GROUP, as the ingestion would store it."""
    noise = np.random.default_rng(0).random(ROWS)  # incompressible: the file's size is real
    table = pa.table({"n": pa.array(range(ROWS)), "x": pa.array(noise),
                      "label": pa.array([f"row-{i}" for i in range(ROWS)])})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=GROUP, compression="zstd")
    key = dataset_key(f"rows-{project_id}")
    await services.ctx.objects.put_bytes(key, buffer.getvalue(), content_type="x/parquet")
    stats = ColumnStats(count=ROWS, nulls=0, distinct=ROWS)
    dataset = DatasetDoc(
        id=f"rows-{project_id}", project_id=project_id, upload_id="u", job_id="j", name="r",
        format="csv", rows=ROWS, object_key=key, created_by=created_by,
        columns=[ColumnSchema(name="n", type="integer", stats=stats),
                 ColumnSchema(name="x", type="float", stats=stats),
                 ColumnSchema(name="label", type="string", stats=stats)])
    return await services.ctx.stores.datasets.save(dataset)


async def test_a_page_past_the_first_row_group_reads_only_its_groups(
    storage_services: Services,
) -> None:
    caller = await make_user(storage_services, "reader")
    project = await storage_services.ctx.stores.projects.create(name="R", owner_id=caller.id)
    dataset = await _dataset(storage_services, project.id, caller.id)
    whole = await storage_services.ctx.objects.size(dataset.object_key)
    counting = CountingObjects(storage_services.ctx.objects)
    storage_services.ctx.objects = counting
    transport = httpx.ASGITransport(app=create_app(storage_services.ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        page = (await http.get(f"/api/v1/datasets/{dataset.id}/rows?offset=64990&limit=20",
                               headers=caller.headers)).json()
        read_for_page = counting.read
        tail = (await http.get(f"/api/v1/datasets/{dataset.id}/rows?offset=99995&limit=50",
                               headers=caller.headers)).json()
        past = (await http.get(f"/api/v1/datasets/{dataset.id}/rows?offset=125000",
                               headers=caller.headers)).json()
        await counting.delete(dataset.object_key)
        gone = await http.get(f"/api/v1/datasets/{dataset.id}/rows", headers=caller.headers)
    # Rows 64990-65009 straddle two row groups: both are read (and the footer), not the
    # other eighteen.
    assert [r["n"] for r in page["rows"]] == list(range(64_990, 65_010))
    assert page["rows"][0]["label"] == "row-64990"
    assert 0 < read_for_page < whole / 4
    assert [r["n"] for r in tail["rows"]] == list(range(99_995, 100_000))
    assert past["rows"] == [] and past["total"] == ROWS
    assert gone.status_code == 404


async def test_ingested_datasets_are_written_in_row_groups(
    client: httpx.AsyncClient, member: Member, services: Services
) -> None:
    job = await wait_job(client, member, (await upload(client, member, "p.csv",
                                                       blobs_csv(30))).json()["job_id"])
    data = await services.ctx.objects.get_bytes(dataset_key(job["result"]["dataset_id"]))
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    assert meta.row_group(0).num_rows == 30  # one group: fewer rows than a group holds
    assert row_group_rows(3) == 65_536 and row_group_rows(2_000) == 1024
    assert row_group_rows(100) == (1 << 20) // 100
