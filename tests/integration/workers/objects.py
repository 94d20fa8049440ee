"""Object storage wrappers for tests: what the code under test asked of the storage."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from core.objects import ObjectStorage, StoredObject


class CountingObjects:
    """Passes every call on, counting the bytes stored from streams and the bytes read."""

    def __init__(self, inner: ObjectStorage) -> None:
        self._inner = inner
        self.taken = 0  # bytes put_stream took from its stream
        self.read = 0  # bytes read back, whole objects or ranges
        self.gets: Counter[str] = Counter()  # whole objects read, by key

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

    async def get_bytes(self, key: str) -> bytes:
        data = await self._inner.get_bytes(key)
        self.read += len(data)
        self.gets[key] += 1
        return data

    async def read_range(self, key: str, start: int, length: int) -> bytes:
        data = await self._inner.read_range(key, start, length)
        self.read += len(data)
        return data
