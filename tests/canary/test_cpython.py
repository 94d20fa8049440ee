"""CPython's asyncio.Queue internals that realtime/wire/asyncio_queue.py replaces."""

from __future__ import annotations

import asyncio
import sys

from realtime.wire.asyncio_queue import CountingQueue, _Line

OURS = "realtime/wire/asyncio_queue.py (CountingQueue)"


def message(what: str) -> str:
    return (f"Python {sys.version.split()[0]} changed asyncio.Queue's {what}: re-read "
            f"Lib/asyncio/queues.py against {OURS} and realtime/wire/UPSTREAM.md")


async def test_storage_and_waiters_are_the_lists_set_here() -> None:
    queue = CountingQueue()
    assert isinstance(queue._queue, _Line), message("`_init` (storage made there)")
    assert isinstance(queue._getters, _Line), message("`_getters`")
    assert isinstance(queue._putters, _Line), message("`_putters`")


async def test_a_waiting_get_is_woken_by_a_put_through_the_lists() -> None:
    queue = CountingQueue()
    getter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)  # one turn: the get is now waiting in _getters
    assert len(queue._getters) == 1, message("`get` (a waiter no longer in `_getters`)")
    queue.put_nowait("packet")
    assert await asyncio.wait_for(getter, 5) == "packet", message("`put_nowait` or `get`")
    assert queue.unsent == 1 and queue.empty(), message("`put` no longer ending in put_nowait")


async def test_put_ends_in_put_nowait() -> None:
    queue = CountingQueue()
    await queue.put("a")
    assert queue.unsent == 1 and queue.head() == "a", message(
        "`put` (no longer ends in `put_nowait`, so the unsent count misses it)")
