"""Meeting messages are written in groups: every `create` still returns once its own message is
stored, or raises its own message's error, and nothing is lost or written twice."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pymongo.errors import ServerSelectionTimeoutError

from core.errors import DuplicateKey, StoreUnavailable
from core.store.collection import Collection, Database
from core.store.messages import MeetingMessageRepository, NewMessage
from tests.support.embedded import embedded_driver


def _message(n: int, meeting: str = "m" * 32) -> NewMessage:
    return NewMessage(meeting_id=meeting, project_id="p" * 32, user_id="u" * 32,
                      user_name="Ada", text=f"message {n}", client_id=None)


class CountingCollection:
    """The real embedded collection, beneath the store's error translation, counting
    `insert_many` calls; `hold` stops them until released, `fail` makes the next one raise
    (a driver error, as PyMongo raises it)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.groups: list[int] = []
        self.hold: asyncio.Event | None = None
        self.fail: Exception | None = None

    async def insert_many(self, docs: list[dict[str, Any]], ordered: bool) -> Any:
        self.groups.append(len(docs))
        if self.hold is not None:
            await self.hold.wait()
        if self.fail is not None:
            error, self.fail = self.fail, None
            raise error
        return await self.real.insert_many(docs, ordered=ordered)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
def repo(tmp_path: Path) -> tuple[MeetingMessageRepository, CountingCollection]:
    driver = embedded_driver(tmp_path)
    repository = MeetingMessageRepository(Database(driver))
    collection = CountingCollection(driver[repository.collection_name])
    repository._c = Collection(collection)
    return repository, collection


async def _writing(collection: CountingCollection, groups: int = 1) -> None:
    """Let the loop run until `groups` writes have started."""
    for _ in range(100):
        if len(collection.groups) >= groups:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{groups} writes did not start: {collection.groups}")


async def _stored_ids(collection: CountingCollection) -> list[str]:
    return sorted([doc["_id"] async for doc in collection.real.find({})])


async def test_messages_sent_together_are_one_write_and_all_stored(
    repo: tuple[MeetingMessageRepository, CountingCollection],
) -> None:
    repository, collection = repo
    messages = [_message(n) for n in range(50)]
    created = await asyncio.gather(*(repository.create(m) for m in messages))
    assert created == messages
    assert collection.groups == [50]
    assert await _stored_ids(collection) == sorted(m.id for m in messages)
    doc = await collection.real.find_one({"_id": messages[0].id})
    assert doc["text"] == "message 0" and doc["meeting_id"] == "m" * 32


async def test_messages_sent_during_a_write_go_in_the_next_one(
    repo: tuple[MeetingMessageRepository, CountingCollection],
) -> None:
    repository, collection = repo
    collection.hold = asyncio.Event()
    first = asyncio.create_task(repository.create(_message(0)))
    await _writing(collection)  # the first write is under way, held
    assert collection.groups == [1]
    later = [asyncio.create_task(repository.create(_message(n))) for n in range(1, 8)]
    for _ in range(20):  # every task gets to run as far as it can, on loop turns, not time
        await asyncio.sleep(0)
    assert not first.done() and not any(task.done() for task in later)
    collection.hold.set()
    await asyncio.gather(first, *later)
    assert collection.groups == [1, 7]
    assert len(await _stored_ids(collection)) == 8


async def test_a_group_is_at_most_max_group_messages(
    repo: tuple[MeetingMessageRepository, CountingCollection],
) -> None:
    repository, collection = repo
    total = MeetingMessageRepository.MAX_GROUP * 2 + 3
    await asyncio.gather(*(repository.create(_message(n)) for n in range(total)))
    assert collection.groups == [MeetingMessageRepository.MAX_GROUP] * 2 + [3]
    assert len(await _stored_ids(collection)) == total


async def test_one_bad_message_fails_alone(
    repo: tuple[MeetingMessageRepository, CountingCollection],
) -> None:
    repository, collection = repo
    taken = _message(0)
    await repository.create(taken)
    again = _message(1)
    again.id = taken.id  # the same _id: the store refuses it
    group = [_message(2), again, _message(3)]
    results = await asyncio.gather(*(repository.create(m) for m in group),
                                   return_exceptions=True)
    assert results[0] is group[0] and results[2] is group[2]
    assert isinstance(results[1], DuplicateKey)
    assert await _stored_ids(collection) == sorted([taken.id, group[0].id, group[2].id])
    stored = await collection.real.find_one({"_id": taken.id})
    assert stored["text"] == "message 0"  # the refused one did not overwrite it


async def test_a_store_that_is_down_fails_the_whole_group_and_the_next_write_works(
    repo: tuple[MeetingMessageRepository, CountingCollection],
) -> None:
    repository, collection = repo
    collection.fail = ServerSelectionTimeoutError("no MongoDB within 2000 ms")
    group = [_message(n) for n in range(4)]
    results = await asyncio.gather(*(repository.create(m) for m in group),
                                   return_exceptions=True)
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert await _stored_ids(collection) == []
    after = _message(9)
    assert await repository.create(after) is after
    assert await _stored_ids(collection) == [after.id]


async def test_a_sender_that_goes_away_does_not_stop_the_others(
    repo: tuple[MeetingMessageRepository, CountingCollection],
) -> None:
    repository, collection = repo
    collection.hold = asyncio.Event()
    tasks = [asyncio.create_task(repository.create(_message(n))) for n in range(3)]
    await _writing(collection)
    assert collection.groups == [3]
    tasks[1].cancel()
    collection.hold.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[1], asyncio.CancelledError)
    assert isinstance(results[0], NewMessage) and isinstance(results[2], NewMessage)
    # Its message was already in the write when it left: stored all the same.
    assert len(await _stored_ids(collection)) == 3


async def test_a_cancelled_writer_cancels_what_waits_for_it(
    repo: tuple[MeetingMessageRepository, CountingCollection],
) -> None:
    repository, collection = repo
    collection.hold = asyncio.Event()
    first = asyncio.create_task(repository.create(_message(0)))
    await _writing(collection)
    queued = asyncio.create_task(repository.create(_message(1)))
    for _ in range(3):
        await asyncio.sleep(0)
    assert repository._inserts._pending  # waiting behind the held write
    writer = repository._inserts._writer
    assert writer is not None
    writer.cancel()
    results = await asyncio.gather(first, queued, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    collection.hold = None
    after = _message(2)
    assert await repository.create(after) is after  # a new writer starts
