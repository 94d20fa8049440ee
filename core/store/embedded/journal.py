"""The write-ahead journal: an append-only file of frames, each made durable (written and
fsynced) before the write it records is acknowledged.

Group commit: `append` hands back a future that is done once its frame is on disk. One writer
thread writes and syncs; frames appended while it syncs wait for the next round, so every
writer of a busy moment shares a single fsync. The thread answers each future on its own event
loop, so writers on several loops (or threads) share one journal safely.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections import defaultdict
from pathlib import Path

from core.errors import StoreNotWritable

_sync = getattr(os, "fdatasync", os.fsync)
Waiter = asyncio.Future[None]


def sync_directory(directory: Path) -> None:
    """Make a file's creation, rename or removal in `directory` survive a crash."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    def __init__(self, path: Path, *, after: Journal | None = None) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._durable = os.fstat(self._fd).st_size
        self.size = self._durable  # with what is still waiting to be written
        self._frames: list[bytes] = []
        self._waiting: list[Waiter] = []
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False
        # After a failed write, wait for a new frame before trying again (no busy retries).
        self._stalled = False
        # The journal before this one: closed (its frames on disk) before this one writes.
        self._after = after
        self.failure: OSError | None = None
        self._close_lock = threading.Lock()

    def append(self, frame: bytes) -> Waiter:
        done: Waiter = asyncio.get_running_loop().create_future()
        with self._changed:
            if self._closing:
                raise StoreNotWritable("the embedded store is closing")
            self._frames.append(frame)
            self._waiting.append(done)
            self.size += len(frame)
            self._stalled = False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="roomcast-journal",
                                                daemon=True)
                self._thread.start()
            self._changed.notify()
        return done

    def _run(self) -> None:
        if self._after is not None:
            self._after.close_now()
            self._after = None
        while True:
            with self._changed:
                while (not self._frames or self._stalled) and not self._closing:
                    self._changed.wait()
                if not self._frames:
                    return
                closing = self._closing
                data, waiting = b"".join(self._frames), self._waiting
                self._frames, self._waiting = [], []
            try:
                self._write(data)
            except OSError as exc:
                self._failed(data, waiting, exc)
                if closing:
                    return
                continue
            self.failure = None
            _settle(waiting, None)

    def _failed(self, data: bytes, waiting: list[Waiter], exc: OSError) -> None:
        # Nothing of the group counts as written. It stays first in line and goes to disk with
        # the next group, once the disk takes it: memory already holds those writes, and the
        # disk catches up rather than drift from it. Their writers hear that it failed.
        with self._changed:
            self.failure = exc
            self._frames.insert(0, data)
            self._stalled = True
            waiting, self._waiting = waiting + self._waiting, []
        _settle(waiting, StoreNotWritable(
            f"the embedded store could not write {self.path}: {exc.strerror or exc}"))

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

    def close_now(self) -> None:
        """Write what waits (one last try after a failure), then close the file; blocks."""
        with self._close_lock:
            if self._fd < 0:
                return
            with self._changed:
                self._closing = True
                self._changed.notify()
                thread = self._thread
            if thread is not None:
                thread.join()
            os.close(self._fd)
            self._fd = -1

    async def close(self) -> None:
        await asyncio.to_thread(self.close_now)


def _settle(waiting: list[Waiter], error: Exception | None) -> None:
    """Answer each future on its own loop, with one call per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Waiter]] = defaultdict(list)
    for done in waiting:
        by_loop[done.get_loop()].append(done)
    for loop, futures in by_loop.items():
        with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_answer, futures, error)


def _answer(futures: list[Waiter], error: Exception | None) -> None:
    for done in futures:
        if done.done():  # its writer went away (cancelled)
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
