"""CPython's asyncio.Queue internals that realtime/wire/asyncio_queue.py replaces."""

from __future__ import annotations

import asyncio
import sys

from realtime.wire.asyncio_queue import CountingQueue, _Line, lean_event

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


async def test_an_event_keeps_its_waiters_in_the_list_set_here() -> None:
    """`lean_event`: asyncio.Event appends its waiters to `_waiters`, wakes them by walking it
    and removes each, which the list set here does as the deque did."""
    event = asyncio.Event()
    lean_event(event)
    assert isinstance(event._waiters, list), message("Event's `_waiters`")  # type: ignore[attr-defined]
    waiters = [asyncio.ensure_future(event.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert len(event._waiters) == 3, message("Event.wait (no longer in `_waiters`)")  # type: ignore[attr-defined]
    event.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 5) == [True] * 3, message("Event.set")
    assert event._waiters == [], message("Event.wait (a woken waiter left in `_waiters`)")  # type: ignore[attr-defined]
    event.clear()
    late = asyncio.ensure_future(event.wait())
    await asyncio.sleep(0)
    late.cancel()
    await asyncio.gather(late, return_exceptions=True)
    assert event._waiters == [], message("Event.wait (a cancelled waiter left in `_waiters`)")  # type: ignore[attr-defined]
    queue = CountingQueue()
    assert isinstance(queue._finished._waiters, list), message("Queue's `_finished` event")
    queue.put_nowait("a")
    joined = asyncio.ensure_future(queue.join())
    await asyncio.sleep(0)
    queue.get_nowait()
    queue.task_done()
    await asyncio.wait_for(joined, 5)
