"""S3ObjectStorage against a real S3 server (moto): bucket creation, streams, URLs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest

from core.errors import NotFound, PayloadTooLarge
from core.objects_s3 import S3ObjectStorage
from core.settings import Settings
from tests.support.services import S3Server


@pytest.fixture
def storage(s3_proc: S3Server) -> S3ObjectStorage:
    settings = Settings(env="test", s3_endpoint=s3_proc.endpoint,  # type: ignore[call-arg]
                        s3_access_key=s3_proc.access_key, s3_secret_key=s3_proc.secret_key,
                        s3_bucket=f"t-{uuid4().hex[:16]}", _env_file=None)
    return S3ObjectStorage.from_settings(settings)


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_round_trip_and_presigned_url(storage: S3ObjectStorage) -> None:
    await storage.ping()  # creates the bucket
    stored = await storage.put_stream("a/b", _chunks(b"hello ", b"world"),
                                      content_type="text/plain")
    assert stored.size == 11
    assert await storage.exists("a/b")
    assert await storage.get_bytes("a/b") == b"hello world"
    assert b"".join([c async for c in storage.open_stream("a/b")]) == b"hello world"
    url = await storage.presigned_url("a/b")
    assert url is not None
    async with httpx.AsyncClient() as http:
        assert (await http.get(url)).content == b"hello world"
    await storage.delete("a/b")
    await storage.delete("a/b")  # deleting what is gone is not an error
    assert not await storage.exists("a/b")
    with pytest.raises(NotFound):
        await storage.get_bytes("a/b")


async def test_a_failed_stream_leaves_no_object(storage: S3ObjectStorage) -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"partial"
        raise PayloadTooLarge()

    with pytest.raises(PayloadTooLarge):
        await storage.put_stream("c", failing(), content_type="text/plain")
    assert not await storage.exists("c")
