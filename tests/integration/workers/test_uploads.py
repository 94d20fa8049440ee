"""Uploads refused for their content: refused at the first bytes, nothing stored, on local
storage and on S3."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest

from api.app import create_app
from core.objects import ObjectStorage, StoredObject
from core.objects_s3 import S3ObjectStorage
from roomcast.factory import Services, build_services
from tests.integration.workers.conftest import Member, upload
from tests.support.domain import make_user
from tests.support.services import S3Server


class CountingObjects:
    """Object storage that counts the bytes its uploads took from the request."""

    def __init__(self, inner: ObjectStorage) -> None:
        self._inner = inner
        self.taken = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], *, content_type: str
    ) -> StoredObject:
        async def counted() -> AsyncIterator[bytes]:
            async for chunk in chunks:
                self.taken += len(chunk)
                yield chunk

        return await self._inner.put_stream(key, counted(), content_type=content_type)


@pytest.fixture(params=["local", "s3"])
async def storage_services(
    request: pytest.FixtureRequest, make_settings: Any
) -> AsyncIterator[Services]:
    overrides: dict[str, Any] = {}
    if request.param == "s3":
        s3: S3Server = request.getfixturevalue("s3_proc")
        overrides = {"s3_endpoint": s3.endpoint, "s3_access_key": s3.access_key,
                     "s3_secret_key": s3.secret_key, "s3_bucket": f"u-{uuid4().hex[:12]}"}
    built = build_services(make_settings(**overrides))
    await built.start()
    try:
        yield built
    finally:
        await built.close()


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
