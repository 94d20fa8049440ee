"""Object storage on S3 or MinIO through the minio SDK.

The SDK is synchronous: every call runs in a worker thread. An upload is spooled (to memory
up to a few MiB, then to a temporary file) and sent once complete, so a stream that fails half
way (a size cap, a client gone) leaves no object behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any, TypeVar

from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from urllib3.exceptions import HTTPError

from core.errors import NotFound, ServiceUnavailable
from core.objects import Download, StoredObject
from core.settings import Settings

CHUNK = 256 * 1024
SPOOL_BYTES = 8 * 1024 * 1024
PART_BYTES = 16 * 1024 * 1024
MISSING = ("NoSuchKey", "NoSuchObject", "NotFound", "NoSuchBucket")

T = TypeVar("T")


class S3ObjectStorage:
    def __init__(self, client: Minio, bucket: str) -> None:
        self._client = client
        self._bucket = bucket
        self._bucket_ready = False

    @classmethod
    def from_settings(cls, settings: Settings) -> S3ObjectStorage:
        assert settings.s3_endpoint is not None
        secret = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None
        client = Minio(settings.s3_endpoint, access_key=settings.s3_access_key,
                       secret_key=secret, secure=settings.s3_secure, region=settings.s3_region)
        return cls(client, settings.s3_bucket)

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except S3Error as exc:
            if exc.code in MISSING:
                raise NotFound("no such object") from exc
            raise ServiceUnavailable(f"object storage refused: {exc.code}") from exc
        except (HTTPError, OSError) as exc:
            raise ServiceUnavailable("object storage is unreachable") from exc

    async def ensure_bucket(self) -> None:
        """Create the bucket if it is missing (idempotent; done once per process)."""
        if self._bucket_ready:
            return
        if not await self._call(self._client.bucket_exists, self._bucket):
            try:
                await self._call(self._client.make_bucket, self._bucket)
            except ServiceUnavailable:
                # Another process may have created it in between.
                if not await self._call(self._client.bucket_exists, self._bucket):
                    raise
        self._bucket_ready = True

    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], *, content_type: str
    ) -> StoredObject:
        await self.ensure_bucket()
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            size = 0
            async for chunk in chunks:
                size += len(chunk)
                await asyncio.to_thread(spool.write, chunk)
            spool.seek(0)
            await self._call(self._client.put_object, self._bucket, key, spool, size,
                             content_type=content_type, part_size=PART_BYTES)
        return StoredObject(key=key, size=size, content_type=content_type)

    async def put_bytes(self, key: str, data: bytes, *, content_type: str) -> StoredObject:
        await self.ensure_bucket()
        await self._call(self._client.put_object, self._bucket, key, io.BytesIO(data),
                         len(data), content_type=content_type)
        return StoredObject(key=key, size=len(data), content_type=content_type)

    async def open_stream(self, key: str) -> AsyncIterator[bytes]:
        response = await self._call(self._client.get_object, self._bucket, key)
        try:
            while chunk := await self._call(response.read, CHUNK):
                yield chunk
        finally:
            response.close()
            response.release_conn()

    async def get_bytes(self, key: str) -> bytes:
        parts = [chunk async for chunk in self.open_stream(key)]
        return b"".join(parts)

    async def size(self, key: str) -> int:
        stat = await self._call(self._client.stat_object, self._bucket, key)
        return int(stat.size or 0)

    async def read_range(self, key: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""  # the SDK reads a zero length as "to the end"
        response = await self._call(self._client.get_object, self._bucket, key,
                                    offset=start, length=length)
        try:
            data: bytes = await self._call(response.read)
        finally:
            response.close()
            response.release_conn()
        return data

    async def delete(self, key: str) -> None:
        with contextlib.suppress(NotFound):
            await self._call(self._client.remove_object, self._bucket, key)

    async def exists(self, key: str) -> bool:
        try:
            await self._call(self._client.stat_object, self._bucket, key)
        except NotFound:
            return False
        return True

    async def presigned_url(
        self, key: str, *, expires_seconds: int = 600, download: Download | None = None
    ) -> str | None:
        headers = None if download is None else {
            "response-content-type": download.content_type,
            "response-content-disposition": download.content_disposition,
        }
        url: str = await self._call(self._client.presigned_get_object, self._bucket, key,
                                    expires=timedelta(seconds=expires_seconds),
                                    response_headers=headers)
        return url

    async def delete_prefix(self, prefix: str) -> int:
        if not prefix:
            return 0
        await self.ensure_bucket()

        def remove() -> int:
            found = self._client.list_objects(self._bucket, prefix=prefix, recursive=True)
            doomed = [DeleteObject(str(item.object_name)) for item in found]
            for start in range(0, len(doomed), 1000):  # S3 deletes at most 1000 per request
                errors = list(self._client.remove_objects(self._bucket,
                                                          doomed[start:start + 1000]))
                if errors:
                    raise ServiceUnavailable(f"object storage refused: {errors[0].code}")
            return len(doomed)

        return await self._call(remove)

    async def keys(self) -> list[str]:
        await self.ensure_bucket()

        def listing() -> list[str]:
            found = self._client.list_objects(self._bucket, recursive=True)
            return sorted(str(item.object_name) for item in found)

        return await self._call(listing)

    async def ping(self) -> None:
        self._bucket_ready = False
        await self.ensure_bucket()
