"""What starting a client event's handler costs: a task per event against realtime/eager.py's
start, for a handler that never waits (a meeting message against the embedded store) and one
that waits once, on uvloop as `roomcast serve` runs.

    taskset -c 0 .venv/bin/python benchmarks/handler_start.py [--events 200000]

Prints microseconds of CPU per event for each (best of 3), the handler's own work included.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from realtime.eager import start

Starter = Callable[[Coroutine[Any, Any, None], set[asyncio.Task[None]]], None]


def with_task(coro: Coroutine[Any, Any, None], running: set[asyncio.Task[None]]) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    running.add(task)
    task.add_done_callback(running.discard)


async def measure(begin: Starter, events: int, waits: bool) -> float:
    loop = asyncio.get_running_loop()
    running: set[asyncio.Task[None]] = set()
    done = 0

    async def never_waits() -> None:
        nonlocal done
        done += 1

    async def waits_once() -> None:
        nonlocal done
        future = loop.create_future()
        loop.call_soon(future.set_result, None)
        await future
        done += 1

    handler = waits_once if waits else never_waits
    began = time.process_time()
    for n in range(events):
        begin(handler(), running)
        if n % 100 == 99:  # let the loop run, as between two reads
            await asyncio.sleep(0)
    if running:
        await asyncio.wait(running)
    spent = time.process_time() - began
    assert done == events
    return spent / events * 1e6


async def main(events: int) -> None:
    for waits in (False, True):
        for name, begin in (("a task per event", with_task), ("eager start", start)):
            best = min([await measure(begin, events, waits) for _ in range(3)])
            kind = "waits once" if waits else "never waits"
            print(f"{kind:12} {name:18} {best:6.2f} us per event")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    uvloop.run(main(parser.parse_args().events))
