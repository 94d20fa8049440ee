"""An object in storage as a read-only, seekable file, so pyarrow reads only what it needs of
it (a Parquet footer, some row groups, some columns): ranged reads on S3, seeks locally."""

from __future__ import annotations

import asyncio
import io
from typing import Any

from core.objects import ObjectStorage


class RangeFile(io.RawIOBase):
    """A read-only file over an object, for pyarrow running in a worker thread: every read
    is a ranged read run on the event loop."""

    def __init__(self, objects: ObjectStorage, key: str, size: int,
                 loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._objects, self._key, self._size, self._loop = objects, key, size, loop
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        length = min(len(buffer), self._size - self._position)
        if length <= 0:
            return 0
        read = self._objects.read_range(self._key, self._position, length)
        data = asyncio.run_coroutine_threadsafe(read, self._loop).result()
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)
