"""Documents on local storage and on S3 (a moto server): upload, versions, search, download
(byte for byte, with its name), delete; and every refusal leaving nothing stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from roomcast.factory import Services
from tests.integration.documents.support import (
    API,
    error_code,
    fetch,
    pdf,
    put,
    put_raw,
    sha,
    stored_keys,
)
from tests.support.domain import Caller, make_user


@pytest.fixture
async def http(storage_services: Services) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(storage_services.ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def project_of(services: Services) -> tuple[Caller, str]:
    head = await make_user(services, "head")
    project = await services.ctx.stores.projects.create(name="Docs", owner_id=head.id)
    return head, project.id


async def test_upload_version_download_delete(
    storage_services: Services, http: httpx.AsyncClient
) -> None:
    head, project_id = await project_of(storage_services)
    first = "Résumé « 2026 ».txt".encode() + b"first version\n" * 1000
    second = b"second version\n" * 70_000  # several chunks
    made = await put(http, project_id, head.headers, "reports/../Résumé « 2026 ».txt", first,
                     folder="plans/q1", tags="draft, finance", description="the plan")
    assert made.status_code == 201, made.text
    document = made.json()["document"]
    assert made.json()["created"] is True
    assert (document["name"], document["folder"], document["tags"]) == (
        "Résumé « 2026 ».txt", "plans/q1", ["draft", "finance"])
    assert (document["version"], document["size"], document["sha256"]) == (
        1, len(first), sha(first))
    assert document["content_type"] == "text/plain"

    again = await put(http, project_id, head.headers, "RÉSUMÉ « 2026 ».TXT", second,
                      folder="plans/q1")
    assert again.status_code == 200, again.text
    assert again.json()["created"] is False
    assert again.json()["document"]["id"] == document["id"]
    assert again.json()["document"]["version"] == 2

    doc_url = f"{API}/documents/{document['id']}"
    latest = await fetch(http, doc_url + "/content", head.headers)
    assert latest.status_code == 200
    assert sha(latest.content) == sha(second)
    assert latest.headers["content-disposition"] == (
        "attachment; filename=\"R_sum_ _ 2026 _.txt\"; "
        "filename*=UTF-8''R%C3%A9sum%C3%A9%20%C2%AB%202026%20%C2%BB.txt")
    older = await fetch(http, doc_url + "/versions/1/content", head.headers)
    assert sha(older.content) == sha(first)
    versions = (await http.get(doc_url + "/versions", headers=head.headers)).json()
    assert [v["number"] for v in versions["items"]] == [2, 1]

    found = await http.get(f"{API}/projects/{project_id}/documents",
                           params={"q": "résumé", "tag": "finance", "type": "text"},
                           headers=head.headers)
    assert [d["id"] for d in found.json()["items"]] == [document["id"]]
    for params, total in (({"type": "image"}, 0), ({"uploaded_by": head.id}, 1),
                          ({"folder": "plans"}, 0), ({"folder": "plans/q1"}, 1),
                          ({"since": "2100-01-01T00:00:00Z"}, 0),
                          ({"until": "2100-01-01T00:00:00Z"}, 1)):
        page = await http.get(f"{API}/projects/{project_id}/documents", params=params,
                              headers=head.headers)
        assert page.json()["total"] == total, params

    assert (await http.delete(doc_url + "/versions/2", headers=head.headers)).status_code == 204
    back = (await http.get(doc_url, headers=head.headers)).json()
    assert (back["version"], back["sha256"]) == (1, sha(first))
    refused = await http.delete(doc_url + "/versions/1", headers=head.headers)
    assert refused.status_code == 409
    assert (await http.delete(doc_url, headers=head.headers)).status_code == 204
    assert (await http.get(doc_url, headers=head.headers)).status_code == 404
    assert await stored_keys(storage_services) == []
    assert await storage_services.ctx.stores.storage_usage.used(project_id) == 0


async def test_an_outsider_sees_nothing_and_a_member_deletes_only_their_own(
    storage_services: Services, http: httpx.AsyncClient
) -> None:
    head, project_id = await project_of(storage_services)
    member = await make_user(storage_services, "member")
    outsider = await make_user(storage_services, "outsider")
    await storage_services.ctx.stores.projects.add_member(project_id, member.id)
    made = (await put(http, project_id, head.headers, "plan.pdf", pdf())).json()["document"]
    url = f"{API}/documents/{made['id']}"
    for path in ("", "/content", "/versions", "/versions/1/content"):
        response = await http.get(url + path, headers=outsider.headers)
        assert response.status_code == 404, path
        assert error_code(response) == "not_found"
    listed = await http.get(f"{API}/projects/{project_id}/documents", headers=outsider.headers)
    assert listed.status_code == 404
    assert (await put(http, project_id, outsider.headers, "x.txt", b"x")).status_code == 404
    assert (await http.delete(url, headers=outsider.headers)).status_code == 404
    assert (await http.delete(url, headers=member.headers)).status_code == 403
    renamed = await http.patch(url, json={"name": "x.pdf"}, headers=member.headers)
    assert renamed.status_code == 403
    assert (await http.get(url, headers=member.headers)).json()["name"] == "plan.pdf"


@pytest.mark.parametrize(("name", "content", "code"), [
    ("..", b"data", "invalid_name"),
    ("a/b/\x01\x7f\u202e", b"data", "invalid_name"),
    ("  ", b"data", "invalid_name"),
    ("empty.txt", b"", "empty_file"),
])
async def test_bad_names_and_empty_files_store_nothing(
    storage_services: Services, http: httpx.AsyncClient, name: str, content: bytes, code: str
) -> None:
    head, project_id = await project_of(storage_services)
    response = await put_raw(http, project_id, head.headers, name, content)
    assert response.status_code == 422, response.text
    assert error_code(response) == code
    await _nothing_kept(storage_services, http, head, project_id)


async def test_control_characters_and_paths_leave_the_name(
    storage_services: Services, http: httpx.AsyncClient
) -> None:
    head, project_id = await project_of(storage_services)
    response = await put_raw(http, project_id, head.headers,
                             "C:\\Users\\x\\..\\in\x1b[31mvoice\u202egpj.exe\t", b"MZ\x90\x00")
    assert response.status_code == 201, response.text
    assert response.json()["document"]["name"] == "in[31mvoicegpj.exe"
    assert response.json()["document"]["content_type"] != "text/plain"


async def test_the_size_cap_and_the_quota_store_nothing(
    make_settings: Any, storage_services: Services
) -> None:
    settings = storage_services.settings.model_copy(update={
        "document_max_bytes": 6000, "project_storage_quota_bytes": 10_000})
    storage_services.ctx.settings = settings
    transport = httpx.ASGITransport(app=create_app(storage_services.ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        head, project_id = await project_of(storage_services)
        over_cap = await put(http, project_id, head.headers, "big.bin", b"\1" * 6001)
        assert over_cap.status_code == 413
        assert error_code(over_cap) == "payload_too_large"
        # Refused from its Content-Length, before a byte is read.
        far_over = await put(http, project_id, head.headers, "big.bin", b"\1" * 200_000)
        assert (far_over.status_code, error_code(far_over)) == (413, "payload_too_large")
        await _nothing_kept(storage_services, http, head, project_id)
        kept = await put(http, project_id, head.headers, "a.bin", b"\2" * 6000)
        assert kept.status_code == 201
        keys = await stored_keys(storage_services)
        over_quota = await put(http, project_id, head.headers, "a.bin", b"\3" * 5000)
        assert over_quota.status_code == 413
        assert error_code(over_quota) == "quota_exceeded"
        assert over_quota.json()["error"]["details"]["available_bytes"] == 4000
        assert await stored_keys(storage_services) == keys
        document = (await http.get(f"{API}/documents/{kept.json()['document']['id']}",
                                   headers=head.headers)).json()
        assert document["version"] == 1
        assert await storage_services.ctx.stores.storage_usage.used(project_id) == 6000


async def _nothing_kept(services: Services, http: httpx.AsyncClient, head: Caller,
                        project_id: str) -> None:
    listed = await http.get(f"{API}/projects/{project_id}/documents", headers=head.headers)
    assert listed.json()["total"] == 0
    assert await stored_keys(services) == []
    assert await services.ctx.stores.storage_usage.used(project_id) == 0


async def test_uploads_at_once_share_the_quota_and_one_name_makes_one_document(
    storage_services: Services,
) -> None:
    settings = storage_services.settings.model_copy(update={
        "project_storage_quota_bytes": 10_000})
    storage_services.ctx.settings = settings
    transport = httpx.ASGITransport(app=create_app(storage_services.ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        head, project_id = await project_of(storage_services)
        racing = await asyncio.gather(*(
            put(http, project_id, head.headers, f"part-{i}.bin", bytes([i]) * 4000)
            for i in range(4)))
        assert sorted(r.status_code for r in racing) == [201, 201, 413, 413]
        assert await storage_services.ctx.stores.storage_usage.used(project_id) == 8000
        assert len(await stored_keys(storage_services)) == 2

        same = await asyncio.gather(*(
            put(http, project_id, head.headers, "notes.txt", f"draft {i}\n".encode())
            for i in range(3)))
        assert sorted(r.json()["created"] for r in same) == [False, False, True]
        assert len({r.json()["document"]["id"] for r in same}) == 1
        versions = (await http.get(
            f"{API}/documents/{same[0].json()['document']['id']}/versions",
            headers=head.headers)).json()
        assert sorted(v["number"] for v in versions["items"]) == [1, 2, 3]


async def test_a_search_with_a_nul_byte_is_refused(
    storage_services: Services, http: httpx.AsyncClient
) -> None:
    head, project_id = await project_of(storage_services)
    for params in ({"q": "a\x00b"}, {"type": "image\x00"}):
        page = await http.get(f"{API}/projects/{project_id}/documents", params=params,
                              headers=head.headers)
        assert (page.status_code, error_code(page)) == (422, "validation_error"), params
