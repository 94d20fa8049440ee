"""The embedded store's engine on a real directory: what is acknowledged is there after the
store is opened again, whatever wrote it; damaged files stop the start; one owner."""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

import core.store.embedded.journal as journal_module
from core.errors import DataDirInUse, ServiceUnavailable, StoreDamaged
from core.ids import utcnow
from core.store.embedded.client import EmbeddedClient
from core.store.embedded.engine import EmbeddedEngine, open_engine
from tests.support.embedded import everything, journals

MB = 1024 * 1024


def opened(directory: Path, compact_bytes: int = 64 * MB) -> Any:
    engine = open_engine(directory, "roomcast", compact_bytes=compact_bytes)
    return EmbeddedClient(engine, "roomcast")["roomcast"]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Any]:
    db = opened(tmp_path)
    yield db
    await db.client.close()


async def reopen(db: Any, directory: Path) -> Any:
    await db.client.close()
    return opened(directory)


async def test_every_kind_of_write_is_there_after_reopening(store: Any, tmp_path: Path) -> None:
    things, other = store["things"], store["other"]
    await things.create_index([("email", ASCENDING)], unique=True)
    await things.insert_one({"_id": "a", "email": "a@x", "n": 1, "at": utcnow(), "tags": []})
    await things.insert_many([{"_id": f"m{i}", "email": f"{i}@x", "n": i} for i in range(5)])
    with pytest.raises(BulkWriteError):  # m3 is taken: the others are written
        await things.insert_many([{"_id": "m3", "email": "dup"}, {"_id": "m9", "email": "9@x"}],
                                 ordered=False)
    with pytest.raises(DuplicateKeyError):
        await things.insert_one({"_id": "b", "email": "a@x"})
    await things.update_one({"_id": "a"}, {"$push": {"tags": "red"}, "$inc": {"n": 1}})
    await things.update_many({"n": {"$gte": 3}}, {"$set": {"big": True}})
    after = await things.find_one_and_update({"email": "1@x"}, {"$set": {"n": 10}},
                                             return_document=ReturnDocument.AFTER)
    assert after is not None and after["n"] == 10
    await things.replace_one({"_id": "r"}, {"email": "r@x", "whole": True}, upsert=True)
    await things.delete_one({"_id": "m0"})
    await other.insert_one({"_id": 1, "nested": {"list": [1, 2, {"x": None}]}})
    await other.delete_many({})
    before = await everything(store)
    assert [d["_id"] for d in before["things"]] == ["a", "m1", "m2", "m3", "m4", "m9", "r"]

    store = await reopen(store, tmp_path)
    assert await everything(store) == before
    await store.client.close()


async def test_a_snapshot_written_while_writes_go_on_loses_none(tmp_path: Path) -> None:
    db = opened(tmp_path, compact_bytes=64 * 1024)  # snapshots start after 64 KiB of journal
    engine: EmbeddedEngine = db.client.engine
    writes = [db["messages"].insert_one({"_id": f"{i:05d}", "text": "x" * 200})
              for i in range(3000)]
    await asyncio.gather(*writes, engine.compact())
    await db["messages"].update_many({"text": "x" * 200}, {"$set": {"seen": True}})
    await engine.compact()
    # Older generations are gone once a newer snapshot is on disk.
    assert len(_files(tmp_path, "snapshot-*")) == 1, _files(tmp_path, "*")
    before = await everything(db)
    db = await reopen(db, tmp_path)
    after = await everything(db)
    assert len(after["messages"]) == 3000 and all(d["seen"] for d in after["messages"])
    assert after == before
    await db.client.close()


async def test_concurrent_writers_share_syncs(store: Any, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    syncs: list[int] = []
    real = journal_module._sync

    def counting(fd: int) -> None:
        syncs.append(fd)
        real(fd)

    monkeypatch.setattr(journal_module, "_sync", counting)
    await asyncio.gather(*[store["m"].insert_one({"_id": i}) for i in range(200)])
    assert await store["m"].count_documents({}) == 200
    assert 1 <= len(syncs) < 200  # group commit: 200 acknowledged writes, fewer fsyncs


async def test_expired_documents_are_removed_through_the_journal(store: Any, tmp_path: Path
                                                                ) -> None:
    tokens = store["tokens"]
    await tokens.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
    now = utcnow()
    await tokens.insert_many([{"_id": "old", "expires_at": now - timedelta(seconds=5)},
                              {"_id": "new", "expires_at": now + timedelta(hours=1)}])
    await store.client.engine.sweep()  # the background sweep may have been first
    assert [d["_id"] async for d in tokens.find({})] == ["new"]
    store = await reopen(store, tmp_path)
    assert [d["_id"] async for d in store["tokens"].find({})] == ["new"]
    info = await store["tokens"].index_information()  # TTL is reported as MongoDB does
    await store["tokens"].create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
    assert (await store["tokens"].index_information())["expires_at_1"]["expireAfterSeconds"] == 0
    assert "expires_at_1" not in info  # indexes are made again at start-up, not kept
    await store.client.close()


def _journal(directory: Path) -> Path:
    return journals(directory)[0]


def _files(directory: Path, pattern: str) -> list[Path]:
    return sorted(directory.glob(pattern))


async def test_a_write_cut_short_at_the_end_is_dropped_with_a_warning(
    store: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await store["m"].insert_one({"_id": "kept"})
    await store["m"].insert_one({"_id": "torn"})
    await store.client.close()
    path = _journal(tmp_path)
    path.write_bytes(path.read_bytes()[:-3])  # a crash in the middle of the last write
    store = opened(tmp_path)
    assert [d["_id"] async for d in store["m"].find({})] == ["kept"]
    assert f"journal {path} ends in a write cut short" in caplog.text
    await store["m"].insert_one({"_id": "after"})  # and the journal goes on from there
    store = await reopen(store, tmp_path)
    assert [d["_id"] async for d in store["m"].find({}).sort("_id", 1)] == ["after", "kept"]
    await store.client.close()


async def test_damage_before_the_end_stops_the_start_naming_the_file(store: Any, tmp_path: Path
                                                                     ) -> None:
    for i in range(3):
        await store["m"].insert_one({"_id": i, "text": "hello"})
    await store.client.close()
    path = _journal(tmp_path)
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF  # a flipped byte in the first record
    path.write_bytes(bytes(data))
    with pytest.raises(StoreDamaged) as caught:
        opened(tmp_path)
    message = str(caught.value)
    assert str(path) in message and "roomcast import" in message
    assert path.read_bytes() == bytes(data)  # nothing was truncated or rewritten


@pytest.mark.parametrize("damage", ["truncate", "flip"])
async def test_a_damaged_snapshot_stops_the_start(store: Any, tmp_path: Path, damage: str
                                                  ) -> None:
    await store["m"].insert_many([{"_id": i} for i in range(100)])
    await store.client.engine.compact()
    await store.client.close()
    path = _files(tmp_path, "snapshot-*.bson")[0]
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[:-20]
    else:
        data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StoreDamaged, match=str(path)):
        opened(tmp_path)


async def test_a_full_disk_fails_writes_and_loses_nothing_acknowledged(
    store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC injected at the file layer; tests/integration/test_store_restart.py fills a real
    (tmpfs) file system."""
    await store["m"].insert_one({"_id": "before"})
    real_write = os.write

    def full(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal_module.os, "write", full)
    with pytest.raises(ServiceUnavailable, match="No space left on device"):
        await store["m"].insert_one({"_id": "refused"})
    with pytest.raises(ServiceUnavailable):
        await store.command("ping")  # readiness says so
    monkeypatch.setattr(journal_module.os, "write", real_write)
    await store["m"].insert_one({"_id": "after"})
    await store.command("ping")
    store = await reopen(store, tmp_path)
    ids = {d["_id"] async for d in store["m"].find({})}
    # The refused write was in memory; it reached the disk with the next one, as it was seen.
    assert ids == {"before", "refused", "after"}
    await store.client.close()


def _spawn(command: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


async def test_a_second_process_is_refused_until_the_owner_dies(store: Any, tmp_path: Path
                                                                ) -> None:
    code = textwrap.dedent(f"""
        from pathlib import Path
        from core.store.embedded.engine import EmbeddedEngine
        EmbeddedEngine(Path({str(tmp_path)!r}), "roomcast", compact_bytes=1 << 20)
        print("opened")
    """)
    run = [sys.executable, "-c", code]
    refused = await asyncio.to_thread(subprocess.run, run, capture_output=True, text=True,
                                      timeout=60, check=False)
    assert refused.returncode != 0
    assert f"in use by another Roomcast process (pid {os.getpid()})" in refused.stderr
    with pytest.raises(DataDirInUse):  # in this process too, a second engine is refused
        EmbeddedEngine(tmp_path, "roomcast", compact_bytes=MB)

    await store.client.close()
    holder = _spawn([sys.executable, "-c", code + "import time; time.sleep(60)"])
    try:
        # Wait for the holder to have the lock, then kill it: the lock dies with it.
        assert holder.stdout is not None
        line = await asyncio.to_thread(holder.stdout.readline)
        assert line.strip() == "opened"
        with pytest.raises(DataDirInUse):
            EmbeddedEngine(tmp_path, "roomcast", compact_bytes=MB)
    finally:
        holder.kill()
        holder.wait()
    store = opened(tmp_path)
    await store.client.close()


def test_a_write_from_another_event_loop_is_not_held_by_a_parked_one(tmp_path: Path) -> None:
    """A write waiting in a loop that then stops running (a fixture's loop while a test runs
    its own with asyncio.run) must not hold the writes of the loop that runs now."""
    parked = asyncio.new_event_loop()
    try:
        db = parked.run_until_complete(_opened_async(tmp_path))

        async def append_only() -> None:  # a write that returns before it is answered
            db.client.engine._journal.append(b"")

        parked.run_until_complete(append_only())

        async def write() -> None:
            await asyncio.wait_for(db["m"].insert_one({"_id": "now"}), 10)

        asyncio.run(write())
        assert asyncio.run(db["m"].find_one({"_id": "now"})) == {"_id": "now"}
    finally:
        parked.run_until_complete(asyncio.sleep(0))  # the answer it was sent, delivered
        parked.close()


async def _opened_async(directory: Path) -> Any:
    return opened(directory)
