"""The write-ahead journal: an append-only file of frames, each made durable (written and
fsynced) before the write it records is acknowledged.

Group commit: `append` hands back a future that is done once its frame is on disk. One sync
runs at a time, in a thread; frames appended while it runs wait for the next one, so every
writer of a busy moment shares a single fsync.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable
from pathlib import Path

from core.errors import ServiceUnavailable

_sync = getattr(os, "fdatasync", os.fsync)


def sync_directory(directory: Path) -> None:
    """Make a file's creation, rename or removal in `directory` survive a crash."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    def __init__(self, path: Path, *, after: Awaitable[None] | None = None) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._durable = os.fstat(self._fd).st_size
        self.size = self._durable  # with what is still waiting to be written
        self._frames: list[bytes] = []
        self._waiting: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        # The journal before this one, closing: its frames reach the disk first.
        self._after = after
        self.failure: OSError | None = None

    def append(self, frame: bytes) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._frames.append(frame)
        self._waiting.append(done)
        self.size += len(frame)
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush(), name="roomcast-journal")
        return done

    async def _flush(self) -> None:
        try:
            if self._after is not None:
                await self._after
                self._after = None
            while self._frames:
                data, waiting = b"".join(self._frames), self._waiting
                self._frames, self._waiting = [], []
                try:
                    await asyncio.to_thread(self._write, data)
                except OSError as exc:
                    self._failed(data, waiting, exc)
                    return
                self.failure = None
                for done in waiting:
                    if not done.done():
                        done.set_result(None)
        finally:
            self._flusher = None

    def _failed(self, data: bytes, waiting: list[asyncio.Future[None]], exc: OSError) -> None:
        # Nothing of the group counts as written. It stays first in line and goes to disk with
        # the next group, once the disk takes it: memory already holds those writes, and the
        # disk catches up rather than drift from it. Their writers hear that it failed.
        self.failure = exc
        self._frames.insert(0, data)
        error = ServiceUnavailable(f"the embedded store could not write {self.path}: "
                                   f"{exc.strerror or exc}")
        for done in (*waiting, *self._waiting):
            if not done.done():
                done.set_exception(error)
        self._waiting = []

    def _write(self, data: bytes) -> None:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            _sync(self._fd)
        except OSError:
            # Cut off what part of the group got in: the file ends on a whole frame again.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._durable)
            raise
        self._durable += len(data)

    async def close(self) -> None:
        """Write what waits (one last try after a failure), then close the file."""
        if self._fd < 0:
            return
        if self._flusher is not None:
            await asyncio.shield(self._flusher)
        if self._frames:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
            await asyncio.shield(self._flusher)
        os.close(self._fd)
        self._fd = -1
