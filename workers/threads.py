"""Job work off the event loop, on threads of its own.

Parsing a file or fitting a model blocks a thread for as long as it takes. On the default
executor (`asyncio.to_thread`) a few such jobs would take every thread that request handling
also uses (password hashing, file pages), and a serving process would stop answering. Job work
therefore runs on a bounded pool of its own (`JOB_THREADS`); the runner makes it the current
pool for the job, so code deep inside a job reaches it without carrying it in every call.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class JobThreads:
    def __init__(self, size: int) -> None:
        self.size = size
        self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="roomcast-job")

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await loop.run_in_executor(self._pool, call)

    def close(self) -> None:
        # Work still running is told to stop by its job (a ReadBudget halt, a progress
        # callback raising); nothing queued starts.
        self._pool.shutdown(wait=False, cancel_futures=True)


_current: contextvars.ContextVar[JobThreads | None] = contextvars.ContextVar(
    "roomcast_job_threads", default=None)


@contextlib.contextmanager
def job_threads(threads: JobThreads | None) -> Iterator[None]:
    """Make `threads` the pool that `in_job_thread` uses within this block."""
    token = _current.set(threads)
    try:
        yield
    finally:
        _current.reset(token)


async def in_job_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run `fn` on the current job pool; outside a job (a benchmark, a direct call), on the
    default executor."""
    threads = _current.get()
    if threads is None:
        return await asyncio.to_thread(fn, *args, **kwargs)
    return await threads.run(fn, *args, **kwargs)
