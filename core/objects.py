"""Object storage: the interface the API and workers use, whatever holds the bytes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    content_type: str


@dataclass(frozen=True)
class Download:
    """How a presigned URL's response presents the object: its type and its header."""

    content_type: str
    content_disposition: str


class ObjectStorage(Protocol):
    """Local directory on the embedded default, S3/MinIO (minio SDK) when S3_ENDPOINT is set."""

    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], *, content_type: str
    ) -> StoredObject: ...

    async def put_bytes(self, key: str, data: bytes, *, content_type: str) -> StoredObject: ...

    def open_stream(self, key: str) -> AsyncIterator[bytes]: ...

    async def get_bytes(self, key: str) -> bytes: ...

    async def size(self, key: str) -> int:
        """The object's length in bytes; NotFound if there is none."""
        ...

    async def read_range(self, key: str, start: int, length: int) -> bytes:
        """Up to `length` bytes from `start` (fewer at the end): a part of a large object,
        such as the row groups of a Parquet file, without fetching the rest."""
        ...

    async def delete(self, key: str) -> None: ...

    async def exists(self, key: str) -> bool: ...

    async def presigned_url(
        self, key: str, *, expires_seconds: int = 600, download: Download | None = None
    ) -> str | None:
        """A URL the client can fetch directly, or None when objects are served by the API.
        With `download`, the response carries that Content-Type and Content-Disposition."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with `prefix` (a folder such as
        `documents/{project_id}/`); how many were deleted."""
        ...

    async def keys(self) -> list[str]:
        """Every stored object's key, sorted (export and backup)."""
        ...

    async def ping(self) -> None: ...
