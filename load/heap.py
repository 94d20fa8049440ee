"""The load process's own collector pauses kept out of the latencies it measures.

A load process holds thousands of client connections, each a few dozen objects the cycle
collector tracks; a full collection walks them all with the loop stopped (up to 59 ms in a
5000-client storm: benchmarks/gc_pauses.py --load-heap none), and every message or connect
in flight meanwhile is measured that much slower, whichever server is under test. While a
scenario runs, what survives a full collection is frozen (`gc.freeze()`), so the next one
walks only what came since; cycles among frozen objects (a client that was dropped and
replaced in a herd) wait until the run ends, when everything is put back in reach. A run is
bounded in time, so what waits is too.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


def _full_collections() -> int:
    return int(gc.get_stats()[2]["collections"])


@asynccontextmanager
async def frozen_survivors(interval: float = 0.5) -> AsyncIterator[None]:
    """Within the block, freeze what survives each full collection; unfreeze after it."""
    seen = _full_collections()

    async def watch() -> None:
        nonlocal seen
        while True:
            await asyncio.sleep(interval)
            if _full_collections() != seen:
                gc.collect(1)  # the young generations' garbage is not frozen with the rest
                gc.freeze()
                seen = _full_collections()

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        yield
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        gc.unfreeze()
