"""Uploads refused for their content: refused at the first bytes, nothing stored, on local
storage and on S3."""

from __future__ import annotations

import httpx
import pytest

from api.app import create_app
from core.objects_s3 import S3ObjectStorage
from roomcast.factory import Services
from tests.integration.workers.conftest import Member, upload
from tests.integration.workers.objects import CountingObjects
from tests.support.domain import make_user


async def _stored_keys(services: Services) -> list[str]:
    objects = services.ctx.objects
    if isinstance(objects, S3ObjectStorage):
        listed = objects._client.list_objects(services.settings.s3_bucket, recursive=True)
        return [o.object_name for o in listed]
    root = services.settings.data_dir / "objects"
    return [str(p) for p in root.rglob("*") if p.is_file()]


@pytest.mark.parametrize(("name", "head"), [
    ("data.csv", b"MZ\x90\x00\x03\x00\x00\x00"), ("table.xlsx", b"\x7fELF\x02\x01\x01"),
    ("photo.csv", b"\x89PNG\r\n\x1a\n"), ("data.dat", b"\xff\xd8\xff\xe0"),
])
async def test_foreign_content_is_refused_before_any_of_it_is_stored(
    storage_services: Services, name: str, head: bytes
) -> None:
    counting = CountingObjects(storage_services.ctx.objects)
    storage_services.ctx.objects = counting
    caller = await make_user(storage_services, "uploader")
    project = await storage_services.ctx.stores.projects.create(name="U", owner_id=caller.id)
    member = Member(caller, project.id)
    transport = httpx.ASGITransport(app=create_app(storage_services.ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await upload(http, member, name, head + b"\0" * (3 << 20))
        assert response.status_code == 415, response.text
        assert response.json()["error"]["code"] == "unsupported_media_type"
        listed = (await http.get(f"/api/v1/projects/{project.id}/uploads",
                                 headers=member.headers)).json()
    assert counting.taken == 0  # refused on its first bytes, not once stored
    assert await _stored_keys(storage_services) == []
    assert listed["total"] == 0
