"""The embedded store's engine: documents in memory (mongomock's query engine), every write
journaled to disk before it is acknowledged, and snapshots that keep start-up short.

On disk, in the store's directory: `LOCK` (held by the owning process), `snapshot-G.bson` (every
document as of some moment after journal G began) and `journal-G.log` (the after-image of every
document each write changed, or its removal, in order). Start-up loads the newest snapshot and
replays the journals from its generation on. Replaying after-images is idempotent, which is
what lets a snapshot be written while writes go on: a document changed during the snapshot is
both in it and in the journal, and the journal, replayed after it, has the last word.

A process about to take the directory over from a running owner (`roomcast serve --take-over`)
reads it ahead, without the lock (`read_ahead`): snapshots are never changed once written and
journals only grow, so once the owner has let go, the engine that opens the directory goes on
from where that reading stopped if the files still begin with what it read, and reads them
again from the start if not (a snapshot written meanwhile, a journal cut back after a failed
write).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from core.errors import StoreDamaged, StoreNotWritable
from core.ids import utcnow
from core.store.embedded.frames import BadFrame, decode, frame, iter_frames
from core.store.embedded.journal import Journal, sync_directory
from core.store.embedded.lock import DataDirLock
from core.store.embedded.mongomock_collection import TrackedCollection, new_database
from core.store.embedded.snapshot import SnapshotWriter, damaged, read_snapshot

log = logging.getLogger("roomcast.store")

T = TypeVar("T")
SNAPSHOT_BATCH = 2000  # documents per snapshot frame (and per turn of the loop)
TTL_SWEEP_SECONDS = 60.0  # as often as MongoDB's TTL monitor runs
_NAME = re.compile(r"^(snapshot|journal)-(\d{10})\.(bson|log)$")
# Stores open in this process by directory: a second opening shares the first (as two apps in
# one process, or tests standing in for two processes, share one MongoDB).
_OPEN: dict[Path, EmbeddedEngine] = {}
# What `read_ahead` read, by directory, for the engine that opens it next.
_AHEAD: dict[Path, StoreImage] = {}
FileId = tuple[int, int, int]  # a file's inode, size and modification time (ns)


def _store_files(directory: Path) -> dict[str, list[int]]:
    """The generations of the snapshots and journals in `directory`."""
    found: dict[str, list[int]] = {"snapshot": [], "journal": []}
    for path in directory.iterdir():
        match = _NAME.match(path.name)
        if match:
            found[match[1]].append(int(match[2]))
    return found


def _file(directory: Path, kind: str, generation: int) -> Path:
    """A generation's snapshot or journal in `directory`."""
    suffix = "bson" if kind == "snapshot" else "log"
    return directory / f"{kind}-{generation:010d}.{suffix}"


def _file_id(path: Path) -> FileId:
    stat = path.stat()
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


class StoreImage:
    """Documents as a store directory's files hold them, and what of the files was read: the
    snapshot (its generation and which file it was) and, per journal, its bytes up to the last
    whole frame."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.db = new_database(database)
        self.collections: dict[str, TrackedCollection] = {}
        self.snapshot: tuple[int, FileId] | None = None
        self.journals: dict[int, bytes] = {}

    def collection(self, name: str) -> TrackedCollection:
        found = self.collections.get(name)
        if found is None:
            found = self.collections[name] = TrackedCollection(self.db, name)
        return found

    def apply(self, record: dict[str, Any]) -> None:
        target = self.collection(record["c"])
        target.load(record.get("p", ()))
        target.unload(record.get("r", ()))

    def read_snapshot(self, path: Path) -> None:
        for record in read_snapshot(path):
            self.collection(record["c"]).load(record["p"])

    def continued_by(self, directory: Path, generation: int,
                     journals: dict[int, bytes]) -> bool:
        """The files now in `directory` (its newest snapshot's `generation`, and its `journals`
        from that generation on, with their bytes) begin with what this image read."""
        if generation == 0:
            same_snapshot = self.snapshot is None
        else:
            same_snapshot = self.snapshot == (generation,
                                              _file_id(_file(directory, "snapshot", generation)))
        newest = max(self.journals, default=0)
        return (same_snapshot
                and all(g in journals and journals[g].startswith(read)
                        for g, read in self.journals.items())
                and all(g in self.journals or g > newest for g in journals))


def read_ahead(directory: Path, database: str) -> StoreImage | None:
    """Read the store in `directory` without its lock, while its owner may still write, for
    the engine that opens it next in this process (which checks that the files still begin
    with what was read). None, with the reason logged, when the files could not be read
    whole: the opening engine then reads them itself, and reports any damage."""
    image = StoreImage(database)
    try:
        found = _store_files(directory)
        generation = max(found["snapshot"], default=0)
        if generation:
            path = _file(directory, "snapshot", generation)
            before = _file_id(path)
            image.read_snapshot(path)
            if _file_id(path) != before:
                raise OSError(f"{path} changed while it was read")
            image.snapshot = (generation, before)
        for journal in sorted(g for g in found["journal"] if g >= generation):
            data = _file(directory, "journal", journal).read_bytes()
            end = len(data)
            try:
                for body in iter_frames(data):
                    image.apply(decode(body))
            except BadFrame as exc:
                if not exc.at_end:  # damage: the opening engine reads it and says where
                    raise
                end = exc.offset  # a frame being written: read once the owner has let go
            image.journals[journal] = data[:end]
    except (OSError, StoreDamaged, BadFrame, ValueError, KeyError, TypeError) as exc:
        log.info("the embedded store in %s was not read ahead (%s): it is read once its "
                 "owner has let go", directory, exc)
        return None
    _AHEAD[directory.resolve()] = image
    return image


def open_engine(directory: Path, database: str, *, compact_bytes: int) -> EmbeddedEngine:
    """The engine of the store in `directory`, opened by this call or shared with an earlier
    one still open; each call is matched by one `close`."""
    key = directory.resolve()
    engine = _OPEN.get(key)
    if engine is None:
        engine = _OPEN[key] = EmbeddedEngine(directory, database, compact_bytes=compact_bytes)
    engine.users += 1
    return engine


class EmbeddedEngine:
    def __init__(self, directory: Path, database: str, *, compact_bytes: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._lock = DataDirLock(directory)
        ahead = _AHEAD.pop(directory.resolve(), None)
        self._image = StoreImage(database)  # the documents, once loaded
        self._ttl: dict[str, tuple[str, int]] = {}  # collection -> (field, seconds)
        self._compact_bytes = compact_bytes
        self._compacting: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.users = 0
        # Writes per collection since the engine opened: this process is the store's only
        # writer (its LOCK), so an unchanged count proves the collection unchanged.
        self.writes: dict[str, int] = {}
        # Whether the load went on from what `read_ahead` read (tests, and the log).
        self.read_ahead = False
        try:
            self.generation = self._load(ahead if ahead and ahead.database == database
                                         else None)
            self._journal = Journal(self._file("journal", self.generation))
            sync_directory(directory)
        except BaseException:
            self._lock.release()
            raise

    def _file(self, kind: str, generation: int) -> Path:
        return _file(self.directory, kind, generation)

    def collection(self, name: str) -> TrackedCollection:
        return self._image.collection(name)

    def collection_names(self) -> list[str]:
        return sorted(name for name, c in self._image.collections.items() if c.count())

    # Start-up.

    def _load(self, image: StoreImage | None) -> int:
        for stale in self.directory.glob("*.tmp"):  # a snapshot a crash cut short
            stale.unlink()
        found = _store_files(self.directory)
        generation = max(found["snapshot"], default=0)
        journals = {g: self._file("journal", g).read_bytes()
                    for g in sorted(found["journal"]) if g >= generation}
        if image is not None and not image.continued_by(self.directory, generation, journals):
            log.info("the embedded store in %s changed beyond what was read ahead: it is read "
                     "again", self.directory)
            image = None
        if image is None:
            image = self._image
            if generation:
                image.read_snapshot(self._file("snapshot", generation))
        else:
            self.read_ahead = True
            log.info("the embedded store in %s goes on from what was read ahead (%d journal "
                     "bytes after it)", self.directory,
                     sum(len(data) - len(image.journals.get(g, b""))
                         for g, data in journals.items()))
        self._image = image
        newest = max(journals, default=0)
        for journal, data in journals.items():
            self._replay(image, self._file("journal", journal), data,
                         start=len(image.journals.get(journal, b"")), last=journal == newest)
        image.journals.clear()  # what was read ahead, no longer needed
        return max([generation, *journals]) or 1

    @staticmethod
    def _replay(image: StoreImage, path: Path, data: bytes, *, start: int, last: bool) -> None:
        try:
            for body in iter_frames(data, start):
                image.apply(decode(body))
        except BadFrame as exc:
            if not (last and exc.at_end):
                raise damaged(path, f"at byte {exc.offset}: {exc.reason}") from None
            # Only the newest write can be cut short, by a crash during it: it was never
            # acknowledged (that waits for its sync), so it is dropped.
            log.warning("the embedded store's journal %s ends in a write cut short (%s); its "
                        "last %d bytes, never acknowledged, are dropped", path, exc.reason,
                        len(data) - exc.offset)
            with open(path, "r+b") as file:
                file.truncate(exc.offset)
                os.fsync(file.fileno())
        except (ValueError, KeyError, TypeError) as exc:
            raise damaged(path, f"unreadable: {exc}") from None

    # Writes.

    async def write(self, target: TrackedCollection, op: Callable[[], T]) -> T:
        """Run a write and return once what it changed is on disk; raises StoreNotWritable
        when it cannot be (the change stays in memory and reaches the disk with a later one)."""
        self._start_background()
        self.writes[target.name] = self.writes.get(target.name, 0) + 1
        target.changed = {}
        error: Exception | None = None
        try:
            result = op()
        except Exception as exc:  # a partial write (BulkWriteError) is journaled, then raised
            error = exc
        finally:
            changed, target.changed = target.changed, None
        if changed:
            await self._journal.append(self._record(target, changed))
            if self._journal.size > self._compact_bytes and self._compacting is None:
                self._compacting = asyncio.get_running_loop().create_task(self._compact())
        if error is not None:
            raise error
        return result

    @staticmethod
    def _record(target: TrackedCollection, changed: dict[Any, None]) -> bytes:
        puts, removes = [], []
        for doc_id in changed:
            doc = target.document(doc_id)
            if doc is None:
                removes.append(doc_id)
            else:
                puts.append(doc)
        return frame({"c": target.name, "p": puts, "r": removes})

    def check(self) -> None:
        """Raise StoreNotWritable while writes cannot reach the disk."""
        failure = self._journal.failure
        if failure is not None:
            raise StoreNotWritable(f"the embedded store cannot write to {self.directory}: "
                                     f"{failure.strerror or failure}")

    # Snapshots.

    async def _compact(self) -> None:
        """Start a new journal, write a snapshot, then drop the files it makes redundant."""
        try:
            previous = self._journal
            generation = self.generation + 1
            self._journal = Journal(self._file("journal", generation), after=previous)
            self.generation = generation
            await asyncio.to_thread(sync_directory, self.directory)
            await previous.close()  # its last frames on disk (the new one waits for that too)
            await self._write_snapshot(generation)
            await asyncio.to_thread(self._drop_before, generation)
        except OSError as exc:
            log.warning("the embedded store could not write a snapshot (%s); it tries again "
                        "once the journal has grown as much again", exc)
            self._compact_bytes += self._journal.size
        finally:
            self._compacting = None

    async def _write_snapshot(self, generation: int) -> None:
        writer = await asyncio.to_thread(SnapshotWriter, self._file("snapshot", generation),
                                         generation)
        try:
            for name in self.collection_names():
                target = self.collection(name)
                ids = target.ids()
                for start in range(0, len(ids), SNAPSHOT_BATCH):
                    docs = [doc for doc_id in ids[start:start + SNAPSHOT_BATCH]
                            if (doc := target.document(doc_id)) is not None]
                    writer.documents += len(docs)
                    await asyncio.to_thread(writer.write, frame({"c": name, "p": docs}))
            await asyncio.to_thread(writer.commit)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(writer.abandon))
            raise

    def _drop_before(self, generation: int) -> None:
        for path in self.directory.iterdir():
            match = _NAME.match(path.name)
            if match and int(match[2]) < generation:
                path.unlink()
        sync_directory(self.directory)

    async def compact(self) -> None:
        """Write a snapshot now (export, tests and benchmarks)."""
        if self._compacting is None:
            self._compacting = asyncio.get_running_loop().create_task(self._compact())
        await asyncio.shield(self._compacting)

    # Expiry.

    def expire(self, collection: str, field: str, seconds: int) -> None:
        self._ttl[collection] = (field, seconds)

    def _start_background(self) -> None:
        # Again after the loop that ran it has ended (tools and tests run one loop after another).
        if self._ttl and (self._sweeper is None or self._sweeper.done()):
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def sweep(self) -> int:
        """Delete the documents past their TTL index's expiry; return how many."""
        removed = 0
        for name, (field, seconds) in list(self._ttl.items()):
            target = self.collection(name)
            cutoff = utcnow() - timedelta(seconds=seconds)
            query = {field: {"$lte": cutoff}}
            result: Any = await self.write(target, partial(target.delete_many, query))
            removed += int(result.deleted_count)
        return removed

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except StoreNotWritable as exc:
                log.warning("expired documents are kept until the disk takes writes: %s", exc)
            await asyncio.sleep(TTL_SWEEP_SECONDS)

    async def close(self) -> None:
        if self.users <= 0:  # closed already
            return
        self.users -= 1
        if self.users > 0:
            return
        _OPEN.pop(self.directory.resolve(), None)
        loop = asyncio.get_running_loop()
        for task in (self._sweeper, self._compacting):
            # A task of a loop that has closed meanwhile (a caller that ran its own loop) is
            # gone with it: cancelling would schedule on the closed loop.
            if task is not None and not task.get_loop().is_closed():
                task.cancel()
                if task.get_loop() is loop:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        await self._journal.close()
        self._lock.release()
