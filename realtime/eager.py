"""Running a coroutine's first step in the caller's turn, as Python 3.12's eager tasks do.

A task costs a trip through the event loop before its first line runs, and most client events
never wait: a meeting message against the embedded store, typing, leave, a refused event.
`start` runs such a coroutine to its end in the callback that read the event; only one that
waits becomes a task, from where it waits.

On Python 3.12 and later this is asyncio's own eager task: the task exists from the start and
is the current task throughout. On 3.11 the first step is a plain coroutine step in a copy of
the caller's context, and a coroutine that waits is then driven by a task made at that point,
in the same context. Code that needs the current task before its first wait
(`asyncio.timeout`, `asyncio.current_task`) sees none on 3.11; the socket handlers have no
such code (the Redis link opens its connections in tasks of their own).
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Coroutine, Generator
from typing import Any

NATIVE = sys.version_info >= (3, 12)


def start(coro: Coroutine[Any, Any, None], running: set[asyncio.Task[None]]) -> None:
    """Run `coro` now, up to its first wait; if it waits, the task driving it from there is
    kept in `running` until it ends."""
    loop = asyncio.get_running_loop()
    task = (asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg]
            if NATIVE else first_step(loop, coro))
    if task is not None and not task.done():
        running.add(task)
        task.add_done_callback(running.discard)


def first_step(loop: asyncio.AbstractEventLoop,
               coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Python 3.11's eager start: None when `coro` finished in its first step, else the task
    that goes on from where it waits."""
    context = contextvars.copy_context()
    try:
        waiting = context.run(coro.send, None)
    except StopIteration:
        return None
    return loop.create_task(_Resumed(coro, waiting), context=context)


class _Resumed(Coroutine[Any, Any, None]):
    """`coro` as a task drives it from its first wait on: the task's first step gets what
    `coro` already waits on; then sends and throws (a cancellation) go straight to `coro`."""

    __slots__ = ("_begun", "_coro", "_waiting")

    def __init__(self, coro: Coroutine[Any, Any, None], waiting: Any) -> None:
        self._coro = coro
        self._waiting = waiting
        self._begun = False

    def send(self, value: Any) -> Any:
        if not self._begun:
            self._begun = True
            waiting, self._waiting = self._waiting, None
            return waiting
        return self._coro.send(value)

    def throw(self, exc: Any, value: Any = None, traceback: Any = None) -> Any:
        # Thrown in before the task's first step too: `coro` is at its wait either way.
        self._begun = True
        self._waiting = None
        error = exc if value is None else value
        if isinstance(error, type):
            error = error()
        return self._coro.throw(error)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, None]:
        return self

    def __iter__(self) -> Generator[Any, None, None]:
        return self

    def __next__(self) -> Any:
        return self.send(None)
