"""Object storage in a local directory: the embedded default."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

from core.errors import NotFound
from core.objects import Download, StoredObject

CHUNK = 256 * 1024


class LocalObjectStorage:
    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self._root / key).resolve()
        if self._root not in path.parents:
            raise NotFound("no such object")
        return path

    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], *, content_type: str
    ) -> StoredObject:
        path = self._path(key)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        # Write under a temporary name and rename, so a half-written object is never visible.
        tmp = path.with_name(path.name + ".partial")
        size = 0
        handle = await asyncio.to_thread(open, tmp, "wb")
        try:
            async for chunk in chunks:
                size += len(chunk)
                await asyncio.to_thread(handle.write, chunk)
        except BaseException:
            handle.close()
            tmp.unlink(missing_ok=True)
            raise
        handle.close()
        await asyncio.to_thread(os.replace, tmp, path)
        return StoredObject(key=key, size=size, content_type=content_type)

    async def put_bytes(self, key: str, data: bytes, *, content_type: str) -> StoredObject:
        async def one() -> AsyncIterator[bytes]:
            yield data

        return await self.put_stream(key, one(), content_type=content_type)

    async def open_stream(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        if not path.is_file():
            raise NotFound("no such object")
        handle = await asyncio.to_thread(open, path, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk
        finally:
            handle.close()

    async def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise NotFound("no such object")
        return await asyncio.to_thread(path.read_bytes)

    async def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise NotFound("no such object")
        return (await asyncio.to_thread(path.stat)).st_size

    async def read_range(self, key: str, start: int, length: int) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise NotFound("no such object")
        return await asyncio.to_thread(_read_at, path, start, length)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)

    async def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    async def presigned_url(
        self, key: str, *, expires_seconds: int = 600, download: Download | None = None
    ) -> str | None:
        return None

    async def delete_prefix(self, prefix: str) -> int:
        def remove() -> int:
            count = 0
            for path in self._under(prefix):
                path.unlink(missing_ok=True)
                count += 1
            return count

        return await asyncio.to_thread(remove)

    def _under(self, prefix: str) -> list[Path]:
        if not prefix or not self._root.is_dir():
            return []
        folder = prefix.rpartition("/")[0]
        base = self._path(folder) if folder else self._root
        if not base.is_dir():
            return []
        return [path for path in base.rglob("*")
                if path.is_file() and path.relative_to(self._root).as_posix().startswith(prefix)]

    async def keys(self) -> list[str]:
        def walk() -> list[str]:
            if not self._root.is_dir():
                return []
            return sorted(path.relative_to(self._root).as_posix()
                          for path in self._root.rglob("*")
                          if path.is_file() and not path.name.endswith(".partial"))

        return await asyncio.to_thread(walk)

    async def ping(self) -> None:
        await asyncio.to_thread(self._root.mkdir, parents=True, exist_ok=True)


def _read_at(path: Path, start: int, length: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(start)
        return handle.read(length)
