"""Reading the embedded store ahead (`roomcast serve --take-over`): read without the lock while
its owner still writes, then opened once the owner has let go. The store opened that way holds
exactly what a store opened from the first byte holds, whatever the owner wrote, cut back or
compacted meanwhile; it goes on from the reading only when the files still begin with it."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from core.errors import StoreDamaged
from core.store.embedded import engine as engine_module
from core.store.embedded.engine import read_ahead
from core.store.embedded.frames import frame
from tests.support.embedded import embedded_driver as opened
from tests.support.embedded import everything, journals

pytestmark = pytest.mark.usefixtures("_nothing_left_ahead")


@pytest.fixture
def _nothing_left_ahead() -> Any:
    """A reading no engine took (a test that failed before opening) is not left to the next."""
    yield
    engine_module._AHEAD.clear()


async def _written_before(db: Any) -> None:
    await db["things"].insert_many([{"_id": f"t{i}", "n": i} for i in range(50)])
    await db["other"].insert_one({"_id": "o", "tags": ["a"]})


async def _written_after(db: Any) -> None:
    """What the owner writes after the reading ahead: new documents, changed and removed ones."""
    await db["things"].insert_one({"_id": "late", "n": -1})
    await db["things"].update_many({"n": {"$lt": 5}}, {"$inc": {"n": 100}})
    await db["things"].delete_one({"_id": "t7"})
    await db["other"].update_one({"_id": "o"}, {"$push": {"tags": "b"}})
    await db["third"].insert_one({"_id": 1})


async def _from_the_first_byte(directory: Path) -> dict[str, list[dict[str, Any]]]:
    db = opened(directory)
    try:
        assert not db.client.engine.read_ahead
        return await everything(db)
    finally:
        await db.client.close()


async def _opened_after_reading_ahead(directory: Path) -> tuple[bool, dict[str, Any]]:
    db = opened(directory)
    try:
        return db.client.engine.read_ahead, await everything(db)
    finally:
        await db.client.close()


@pytest.mark.parametrize("snapshot", [False, True])
async def test_the_store_goes_on_from_what_was_read_ahead(
    tmp_path: Path, snapshot: bool, caplog: pytest.LogCaptureFixture
) -> None:
    owner = opened(tmp_path)
    await _written_before(owner)
    if snapshot:
        await owner.client.engine.compact()
        await owner["things"].insert_one({"_id": "after-snapshot", "n": 0})
    assert read_ahead(tmp_path, "roomcast") is not None
    await _written_after(owner)
    expected = await everything(owner)
    await owner.client.close()

    caplog.set_level(logging.INFO, "roomcast.store")
    went_on, found = await _opened_after_reading_ahead(tmp_path)
    assert went_on, caplog.text
    assert "goes on from what was read ahead" in caplog.text
    assert found == expected
    assert await _from_the_first_byte(tmp_path) == expected


async def test_a_snapshot_written_after_the_reading_makes_the_store_read_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    owner = opened(tmp_path)
    await _written_before(owner)
    assert read_ahead(tmp_path, "roomcast") is not None
    await _written_after(owner)
    await owner.client.engine.compact()  # a new generation: the files read are gone
    await owner["things"].delete_one({"_id": "t9"})
    expected = await everything(owner)
    await owner.client.close()

    caplog.set_level(logging.INFO, "roomcast.store")
    went_on, found = await _opened_after_reading_ahead(tmp_path)
    assert not went_on and "changed beyond what was read ahead" in caplog.text
    assert found == expected


async def test_a_journal_cut_back_after_the_reading_makes_the_store_read_again(
    tmp_path: Path,
) -> None:
    owner = opened(tmp_path)
    await _written_before(owner)
    await owner["things"].insert_one({"_id": "never-synced"})
    before_it = len(journals(tmp_path)[0].read_bytes()) - len(
        frame({"c": "things", "p": [{"_id": "never-synced"}], "r": []}))
    assert read_ahead(tmp_path, "roomcast") is not None
    await owner.client.close()
    # As the owner does when a write's sync fails: the file is cut back to its last synced
    # byte, and what follows is other writes.
    path = journals(tmp_path)[0]
    path.write_bytes(path.read_bytes()[:before_it]
                     + frame({"c": "things", "p": [{"_id": "other", "n": 1}], "r": []}))

    went_on, found = await _opened_after_reading_ahead(tmp_path)
    assert not went_on
    ids = [doc["_id"] for doc in found["things"]]
    assert "never-synced" not in ids and "other" in ids
    assert found == await _from_the_first_byte(tmp_path)


async def test_a_write_half_on_disk_while_reading_ahead_is_read_once_whole(
    tmp_path: Path,
) -> None:
    owner = opened(tmp_path)
    await _written_before(owner)
    await owner.client.close()
    path = journals(tmp_path)[0]
    record = frame({"c": "things", "p": [{"_id": "arriving", "n": 7}], "r": []})
    with path.open("ab") as journal:
        journal.write(record[:11])  # the owner's write, as far as it has got
    image = read_ahead(tmp_path, "roomcast")
    assert image is not None and "arriving" not in image.collection("things").ids()
    with path.open("ab") as journal:
        journal.write(record[11:])

    went_on, found = await _opened_after_reading_ahead(tmp_path)
    assert went_on
    assert {"_id": "arriving", "n": 7} in found["things"]


async def test_damage_found_while_reading_ahead_is_left_to_the_opening(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    owner = opened(tmp_path)
    await _written_before(owner)
    await owner["things"].insert_one({"_id": "last"})
    await owner.client.close()
    path = journals(tmp_path)[0]
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF  # a flipped byte in the first record
    path.write_bytes(bytes(data))

    caplog.set_level(logging.INFO, "roomcast.store")
    assert read_ahead(tmp_path, "roomcast") is None
    assert "was not read ahead" in caplog.text
    with pytest.raises(StoreDamaged, match=str(path)):
        opened(tmp_path)


async def test_a_reading_ahead_of_another_database_is_not_taken(tmp_path: Path) -> None:
    owner = opened(tmp_path)
    await _written_before(owner)
    await owner.client.close()
    assert read_ahead(tmp_path, "elsewhere") is not None
    went_on, found = await _opened_after_reading_ahead(tmp_path)
    assert not went_on
    assert found == await _from_the_first_byte(tmp_path)


# The owner as its own process, writing as fast as it can while this one reads ahead: inserts,
# changes and removals, each acknowledged before the next; with a small journal limit it also
# writes snapshots meanwhile. It says "writing" once it has begun and exits once done.
_OWNER = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from core.store.embedded.client import EmbeddedClient
    from core.store.embedded.engine import open_engine

    async def main(directory, writes, compact_bytes):
        engine = open_engine(Path(directory), "roomcast", compact_bytes=compact_bytes)
        db = EmbeddedClient(engine, "roomcast")["roomcast"]
        for i in range(writes):
            await db["things"].insert_one({"_id": i, "n": i, "text": "x" * (i % 300)})
            if i % 3 == 0:
                await db["things"].update_one({"_id": i // 2}, {"$inc": {"n": 1000}})
            if i % 7 == 0:
                await db["things"].delete_one({"_id": i // 3})
            if i == 50:
                print("writing", flush=True)
        await engine.close()

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
""")


def _start_owner(directory: Path, *, writes: int, compact_bytes: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _OWNER, str(directory), str(writes), str(compact_bytes)],
        stdout=subprocess.PIPE, text=True)


@pytest.mark.parametrize("compact_bytes", [64 * 1024 * 1024, 64 * 1024])
async def test_reading_ahead_while_another_process_writes_loses_nothing(
    tmp_path: Path, compact_bytes: int
) -> None:
    owner = _start_owner(tmp_path, writes=3000, compact_bytes=compact_bytes)
    try:
        assert owner.stdout is not None
        assert (await asyncio.to_thread(owner.stdout.readline)).strip() == "writing"
        readings = 0
        while owner.poll() is None and readings < 1000:  # each one replaces the one before
            if read_ahead(tmp_path, "roomcast") is not None:
                readings += 1
        assert await asyncio.to_thread(owner.wait, 120) == 0
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
    assert readings > 0, readings

    went_on, found = await _opened_after_reading_ahead(tmp_path)
    if compact_bytes > 1024 * 1024:  # no snapshot meanwhile: the journal only grew
        assert went_on
    assert found == await _from_the_first_byte(tmp_path)
    assert len(found["things"]) > 2000
