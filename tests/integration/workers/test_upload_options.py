"""What an upload may say about its file: whether the first row is a header, and the types of
some columns."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.integration.workers.conftest import Member, wait_job
from tests.support.hostile import xlsx_bytes


async def _ingested(client: httpx.AsyncClient, member: Member, name: str, content: bytes,
                    **options: str) -> dict[str, Any]:
    response = await client.post(f"/api/v1/projects/{member.project_id}/uploads",
                                 params=options, files={"file": (name, content)},
                                 headers=member.headers)
    assert response.status_code == 202, response.text
    job = await wait_job(client, member, response.json()["job_id"])
    assert job["status"] == "succeeded", job
    dataset = (await client.get(f"/api/v1/datasets/{job['result']['dataset_id']}",
                                headers=member.headers)).json()
    rows = (await client.get(f"/api/v1/datasets/{dataset['id']}/rows",
                             headers=member.headers)).json()
    return {"types": {c["name"]: c["type"] for c in dataset["columns"]}, "rows": rows["rows"]}


async def test_a_numeric_header_is_read_as_a_header(client: httpx.AsyncClient,
                                                    member: Member) -> None:
    got = await _ingested(client, member, "years.csv", b"name,2020,2021\na,1,2\nb,3,4\n")
    assert got["types"] == {"name": "string", "2020": "integer", "2021": "integer"}
    assert got["rows"] == [{"name": "a", "2020": 1, "2021": 2}, {"name": "b", "2020": 3,
                                                                 "2021": 4}]


@pytest.mark.parametrize(("name", "content"), [
    ("h.csv", b"a,b\nc,d\n"), ("h.tsv", b"a\tb\nc\td\n"),
    ("h.xlsx", xlsx_bytes([["a", "b"], ["c", "d"]])),
])
async def test_header_false_keeps_the_first_row_as_data(
    client: httpx.AsyncClient, member: Member, name: str, content: bytes
) -> None:
    got = await _ingested(client, member, name, content, header="false")
    assert list(got["types"]) == ["column_1", "column_2"]
    assert len(got["rows"]) == 2


async def test_header_true_names_columns_from_numbers(client: httpx.AsyncClient,
                                                      member: Member) -> None:
    got = await _ingested(client, member, "n.csv", b"1,2\n3,4\n", header="true")
    assert got["rows"] == [{"1": 3, "2": 4}]


async def test_types_override_inference(client: httpx.AsyncClient, member: Member) -> None:
    got = await _ingested(client, member, "z.csv", b"zip,code\n02134,7\n10001,8\n",
                          types=json.dumps({"zip": "integer", "code": "string"}))
    assert got["types"] == {"zip": "integer", "code": "string"}
    assert got["rows"] == [{"zip": 2134, "code": "7"}, {"zip": 10001, "code": "8"}]


@pytest.mark.parametrize("types", ['{"zip": "decimal"}', "[1]", "{nope"])
async def test_bad_types_are_refused_before_anything_is_stored(
    client: httpx.AsyncClient, member: Member, types: str
) -> None:
    response = await client.post(f"/api/v1/projects/{member.project_id}/uploads",
                                 params={"types": types}, files={"file": ("z.csv", b"a\n1\n")},
                                 headers=member.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    listed = (await client.get(f"/api/v1/projects/{member.project_id}/uploads",
                               headers=member.headers)).json()
    assert listed["total"] == 0


async def test_a_type_that_does_not_fit_fails_the_job(client: httpx.AsyncClient,
                                                      member: Member) -> None:
    response = await client.post(f"/api/v1/projects/{member.project_id}/uploads",
                                 params={"types": '{"a": "float"}'},
                                 files={"file": ("a.csv", b"a\nx\n")}, headers=member.headers)
    job = await wait_job(client, member, response.json()["job_id"])
    assert (job["status"], job["error_code"]) == ("failed", "type_mismatch")
