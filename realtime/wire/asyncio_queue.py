"""Stands in for CPython's `asyncio.Queue` storage (3.11-3.13: the private `_init`, `_queue`,
`_getters` and `_putters`): a socket's outbound queue that counts its unwritten packets and
keeps its lines in lists; and for `asyncio.Event`'s waiter line (the private `_waiters`), kept in
a list by `lean_event` (the queue's own `_finished` event, and a WebSocket's `writable`).

Why: an idle socket's queue holds three empty deques (about 600 bytes each, against 56 for a
list), and the direct write (realtime/wire/engineio_driver.py) must know whether any packet
put on the queue is still unwritten, which an empty queue does not tell (the writer takes a
packet a loop turn before it writes it). Re-check on a new Python: tests/canary/test_cpython.py.
"""

from __future__ import annotations

import asyncio
from typing import Any


class _Line(list[Any]):
    """A list with the one deque method asyncio.Queue uses."""

    __slots__ = ()

    def popleft(self) -> Any:
        return self.pop(0)


class CountingQueue(asyncio.Queue[Any]):
    """A socket's outbound queue that knows how many of its packets are not written yet.

    Its storage and waiter lines are lists: they hold at most the outbound limit
    (SOCKET_OUTBOUND_QUEUE) and one waiter, so taking the first item stays cheap.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._getters: Any = _Line()
        self._putters: Any = _Line()
        lean_event(self._finished)  # type: ignore[attr-defined]  # `join` waits on it
        self.unsent = 0
        # Called after every put when the socket writes from callbacks (engineio_socket.py).
        self.on_put: Any = None

    def head(self) -> Any:
        """The next packet to be taken (the queue must not be empty)."""
        return self._queue[0]

    def _init(self, maxsize: int) -> None:
        self._queue: Any = _Line()

    def put_nowait(self, item: Any) -> None:
        super().put_nowait(item)
        self.unsent += 1  # asyncio.Queue.put ends in put_nowait, so both are counted
        if self.on_put is not None:
            self.on_put()


def lean_event(event: asyncio.Event) -> None:
    """Keep `event`'s waiters in a list instead of a deque (an empty deque takes far more memory
    than an empty list). `asyncio.Event` only appends to the line, removes from it and walks it
    (`wait`, `set`), which a list does as well; an event somebody already waits on is left as
    it is."""
    if not event._waiters:
        event._waiters = _Line()  # type: ignore[assignment]
