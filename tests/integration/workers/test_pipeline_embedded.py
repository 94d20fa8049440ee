"""Upload -> ingestion -> dataset -> analysis -> picture, on the embedded default."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import httpx
import numpy as np
import pytest
from openpyxl import Workbook
from scipy.io import savemat

from roomcast.factory import Services
from tests.integration.workers.conftest import Member, upload, wait_job
from tests.support.domain import RecordingEmitter, make_user
from tests.support.services import eventually

PNG = b"\x89PNG\r\n\x1a\n"


def zip_bomb() -> bytes:
    """A small XLSX-looking archive whose sheet inflates to 64 MiB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (64 * 1024 * 1024))
    return buffer.getvalue()


def blobs_csv(n: int = 300) -> bytes:
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0], [8.0, 8.0], [0.0, 8.0]])
    rows = ["x,y,label"]
    for i in range(n):
        c = i % 3
        x, y = centers[c] + rng.normal(size=2)
        rows.append(f"{x:.4f},{y:.4f},{'abc'[c]}")
    return ("\n".join(rows) + "\n").encode()


async def test_csv_to_dataset_to_kmeans_to_png(
    client: httpx.AsyncClient, member: Member, recorder: RecordingEmitter
) -> None:
    response = await upload(client, member, "points.csv", blobs_csv())
    assert response.status_code == 202, response.text
    body = response.json()
    assert response.headers["location"] == f"/api/v1/jobs/{body['job_id']}"
    assert body["upload"]["sha256"] and body["upload"]["size"] == len(blobs_csv())
    job = await wait_job(client, member, body["job_id"])
    assert job["status"] == "succeeded", job
    assert job["progress"] == 100

    dataset_id = job["result"]["dataset_id"]
    dataset = (await client.get(f"/api/v1/datasets/{dataset_id}", headers=member.headers)).json()
    assert dataset["rows"] == 300
    columns = {c["name"]: c for c in dataset["columns"]}
    assert columns["x"]["type"] == "float"
    assert columns["label"]["categorical"] is True
    assert columns["x"]["stats"]["count"] == 300
    assert sum(columns["x"]["stats"]["histogram"]["counts"]) == 300
    rows = (await client.get(f"/api/v1/datasets/{dataset_id}/rows?limit=2&offset=1",
                             headers=member.headers)).json()
    assert len(rows["rows"]) == 2 and rows["total"] == 300

    started = await client.post(f"/api/v1/datasets/{dataset_id}/analyses",
                                json={"algorithm": "kmeans", "k": 3}, headers=member.headers)
    assert started.status_code == 202, started.text
    analysis = await wait_job(client, member, started.json()["job_id"])
    assert analysis["status"] == "succeeded", analysis
    assert sorted(analysis["result"]["cluster_sizes"]) == [100, 100, 100]
    picture = analysis["result"]["pictures"][0]
    png = await client.get(picture["url"], headers=member.headers)
    assert png.status_code == 200 and png.content.startswith(PNG)

    def notices() -> list[Any]:
        return [args for kind, args in recorder.calls if kind == "emit"
                and args[0] == f"user:{member.caller.id}" and args[1] == "notification"
                and args[2]["data"]["job_id"] == analysis["id"]]

    # The job reads as succeeded as soon as it is stored so; its announcement follows.
    await eventually(notices, what="the job's notification")
    events = [(room, event, data) for kind, (room, event, data) in
              [(k, args) for k, args in recorder.calls if k == "emit"]]
    done = [e for e in events if e[1] == "job.completed" and e[2]["job_id"] == analysis["id"]]
    assert {room for room, _, _ in done} == {f"job:{analysis['id']}",
                                            f"project:{member.project_id}"}
    assert done[0][2]["result"]["pictures"][0]["url"] == picture["url"]
    progress = [e for e in events if e[1] == "job.progress" and e[2]["job_id"] == analysis["id"]]
    assert any(e[2]["stage"] == "clustering" for e in progress)
    notified = [(data["kind"], data["data"]) for room, event, data in events
                if room == f"user:{member.caller.id}" and event == "notification"
                and data["data"]["job_id"] == analysis["id"]]
    assert notified == [("job.completed", {"job_id": analysis["id"],
                                           "project_id": member.project_id,
                                           "status": "succeeded"})]
    # The notification is stored as well as delivered: the REST list has it, once.
    listed = (await client.get("/api/v1/notifications", headers=member.headers)).json()
    assert [n["kind"] for n in listed["items"] if n["data"]["job_id"] == analysis["id"]] == [
        "job.completed"]


async def test_random_forest_on_an_xlsx(client: httpx.AsyncClient, member: Member) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["a", "b", "kind"])
    rng = np.random.default_rng(1)
    for _ in range(200):
        a, b = rng.normal(size=2)
        sheet.append([float(a), float(b), "yes" if a + b > 0 else "no"])
    buffer = io.BytesIO()
    book.save(buffer)
    response = await upload(client, member, "table.xlsx", buffer.getvalue())
    job = await wait_job(client, member, response.json()["job_id"])
    assert job["status"] == "succeeded", job
    started = await client.post(
        f"/api/v1/datasets/{job['result']['dataset_id']}/analyses",
        json={"algorithm": "random_forest", "target": "kind", "n_estimators": 10},
        headers=member.headers)
    assert started.status_code == 202, started.text
    done = await wait_job(client, member, started.json()["job_id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["accuracy"] > 0.8
    assert {p["name"] for p in done["result"]["pictures"]} == {"importances.png",
                                                               "confusion.png"}


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("ragged.csv", b"a,b\n1,2\n3,4,5\n", "ragged_rows"),
        ("garbage.csv", bytes(range(256)) * 8, "invalid_file"),
        ("fake.xlsx", b"a,b\n1,2\n", "wrong_extension"),
        ("empty.csv", b"", "empty_file"),
        ("big.csv", b"a,b\n1," + b"x" * (2 << 20) + b"\n", "cell_too_large"),
        ("bomb.xlsx", None, "zip_bomb"),
        ("text.mat", b"a b\n1 2\n", "wrong_extension"),
        ("letters.dat", b"1 2\n3 x\n", "invalid_file"),
    ],
)
async def test_bad_files_fail_cleanly(
    client: httpx.AsyncClient, member: Member, services: Services, name: str,
    content: bytes | None, code: str,
) -> None:
    response = await upload(client, member, name, zip_bomb() if content is None else content)
    assert response.status_code == 202, response.text
    job = await wait_job(client, member, response.json()["job_id"])
    assert (job["status"], job["error_code"]) == ("failed", code), job
    assert job["attempts"] == 1  # a bad file is not retried
    assert await services.ctx.stores.datasets.get(job["id"]) is None
    assert not await services.ctx.objects.exists(f"datasets/{job['id']}/data.parquet")


async def test_upload_refusals(client: httpx.AsyncClient, member: Member,
                               services: Services) -> None:
    assert (await upload(client, member, "run.exe", b"MZ\x90\x00")).status_code == 415
    assert (await upload(client, member, "photo.csv", b"\x89PNG\r\n\x1a\n....")).status_code == 415
    stranger = await make_user(services, "stranger")
    response = await client.post(f"/api/v1/projects/{member.project_id}/uploads",
                                 files={"file": ("a.csv", b"a\n1\n")}, headers=stranger.headers)
    assert response.status_code == 404
    listed = (await client.get(f"/api/v1/projects/{member.project_id}/uploads",
                               headers=member.headers)).json()
    assert listed["total"] == 0  # nothing refused was kept


async def test_upload_over_the_cap_is_refused_while_streaming(
    make_settings: object, member: Member
) -> None:
    from api.app import create_app
    from roomcast.factory import build_services

    settings = make_settings(upload_max_bytes=4096)  # type: ignore[operator]
    built = build_services(settings)
    await built.start()
    try:
        user = await built.ctx.stores.users.create(email="cap@example.com", name="Cap",
                                                   password_hash=None)
        project = await built.ctx.stores.projects.create(name="P", owner_id=user.id)
        token = built.ctx.tokens.issue(sub=user.id, role=user.role, typ="access").token
        transport = httpx.ASGITransport(app=create_app(built.ctx), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.post(
                f"/api/v1/projects/{project.id}/uploads",
                files={"file": ("a.csv", b"a\n" + b"1\n" * 5000)},
                headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"
        written = [p for p in (settings.data_dir / "objects").rglob("*") if p.is_file()]
        assert written == []  # nothing half-written
    finally:
        await built.close()


async def test_download_and_delete_upload(client: httpx.AsyncClient, member: Member) -> None:
    content = b"a,b\n1,2\n"
    body = (await upload(client, member, "small.csv", content)).json()
    await wait_job(client, member, body["job_id"])
    upload_id = body["upload"]["id"]
    got = await client.get(f"/api/v1/uploads/{upload_id}/content", headers=member.headers)
    assert got.content == content
    deleted = await client.delete(f"/api/v1/uploads/{upload_id}", headers=member.headers)
    assert deleted.status_code == 204
    assert (await client.get(f"/api/v1/uploads/{upload_id}",
                             headers=member.headers)).status_code == 404


async def test_analysis_parameters_are_checked(client: httpx.AsyncClient, member: Member) -> None:
    body = (await upload(client, member, "p.csv", blobs_csv(30))).json()
    job = await wait_job(client, member, body["job_id"])
    url = f"/api/v1/datasets/{job['result']['dataset_id']}/analyses"
    for params in ({"algorithm": "kmeans", "k": 1}, {"algorithm": "kmeans", "k": 31},
                   {"algorithm": "decision_tree", "target": "x"},
                   {"algorithm": "decision_tree", "target": "nope"},
                   {"algorithm": "kmeans", "features": ["label"]},
                   {"algorithm": "svm"}):
        response = await client.post(url, json=params, headers=member.headers)
        assert response.status_code == 422, (params, response.text)


def _mat_bytes() -> bytes:
    buffer = io.BytesIO()
    savemat(buffer, {"signal": np.arange(12.0).reshape(6, 2)})
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "rows", "columns"),
    [
        ("m.dat", b"t v\n0 0.5\n1 1.5\n2 2.5\n", 3, ["t", "v"]),
        ("m.tsv", b"a\tb\n1\t2\n3\t4\n", 2, ["a", "b"]),
        ("m.mat", None, 6, ["signal_1", "signal_2"]),
    ],
)
async def test_other_formats_ingest(
    client: httpx.AsyncClient, member: Member, name: str, content: bytes | None, rows: int,
    columns: list[str],
) -> None:
    response = await upload(client, member, name, _mat_bytes() if content is None else content)
    job = await wait_job(client, member, response.json()["job_id"])
    assert job["status"] == "succeeded", job
    dataset = (await client.get(f"/api/v1/datasets/{job['result']['dataset_id']}",
                                headers=member.headers)).json()
    assert dataset["rows"] == rows
    assert [c["name"] for c in dataset["columns"]] == columns
