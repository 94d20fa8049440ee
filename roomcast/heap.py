"""The cycle collector's reach kept small in a serving process.

CPython's cycle collector stops the process while it walks every tracked object of the
generation it collects, and a full collection (the oldest generation) walks everything that
has lived long: start-up's modules and schemas, and every connection (its protocol, parser,
Engine.IO socket and bound callbacks, about 55 tracked objects). It runs again each time that
generation has grown by a quarter. So a storm of connections is met by full collections of a
heap that grows with it: 5,000 connections at 500 a second saw pauses of 10, 32, 51, 82 and
111 ms, and those pauses were the storm's p99 (docs/performance.md, "The collector during a
connect storm").

`HeapKeeper` moves what survives a full collection out of the collector's reach
(`gc.freeze()`), so the next full collection walks only what came since. While connections
arrive it does not wait for a full collection to have walked them: once `arrivals` connections
have come since the last freeze, it collects the young generations and freezes the rest, so a
storm's full collections walk only what its last half second left. Frozen objects are
still freed by reference counting; what they cannot be is collected as a cycle. A connection
left about 66 objects in reference cycles when it ended (0.1 since the handshake's changes,
docs/performance.md; but any code may make a cycle), so a process that has lost many of its
connections since the last compaction, or that has not compacted for `max_age` seconds while
its frozen heap grew, compacts: `gc.unfreeze()`, one full collection, `gc.freeze()`
again. That pause is what a default full collection would have cost, and it comes at most as
often as churn (a quarter of the connections gone) makes it worth it; a storm of arrivals and a
herd of reconnects, where nobody leaves, never cause it. A compaction that churn asked for and
that found next to nothing to free (less than one object per connection that left) doubles the
churn the next one waits for, up to `churn_share_max`; one that frees more brings it back to
`churn_share`. Departures that leave no cycles then cost few pauses, and code that starts
leaving them is compacted after as often as before.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("roomcast")


@dataclass(frozen=True)
class HeapPolicy:
    """When the frozen heap is compacted."""

    interval: float = 0.5  # seconds between looks at the collector's statistics
    churn_share: float = 0.25  # compact once this share of the live connections has left...
    churn_floor: int = 1000  # ...and at least this many connections have left
    # A churn compaction that freed fewer objects than this per departed connection doubles
    # the share the next one waits for, up to churn_share_max (back to churn_share once one
    # frees more).
    freed_per_departure: float = 1.0
    churn_share_max: float = 4.0
    max_age: float = 600.0  # compact after this long if the frozen heap grew by growth_share
    growth_share: float = 0.25
    # Freeze what has left the young generations once this many connections have arrived
    # since the last freeze, without waiting for a full collection to walk them first.
    arrivals: int = 250

    def churned(self, *, departed: int, live: int, share: float | None = None) -> bool:
        """`departed` connections left since the last compaction, `live` are connected now;
        `share` of them must have left (`churn_share` unless given)."""
        share = self.churn_share if share is None else share
        return departed >= max(self.churn_floor, share * live)

    def next_share(self, share: float, *, freed: int, departed: int) -> float:
        """The churn share after a churn compaction that freed `freed` objects when
        `departed` connections had left."""
        if freed >= self.freed_per_departure * departed:
            return self.churn_share
        return min(share * 2, max(self.churn_share_max, self.churn_share))

    def grown(self, *, frozen: int, frozen_after: int) -> bool:
        """`frozen` objects are frozen now, `frozen_after` were at the last compaction."""
        return frozen > frozen_after * (1 + self.growth_share)


class HeapKeeper:
    """Freezes what survives each full collection; compacts when churn asks for it.

    `departures` counts the connections that have ended (monotonic) and `live` the connected
    ones; both are read on the event loop every `policy.interval` seconds.
    """

    def __init__(self, departures: Callable[[], int], live: Callable[[], int],
                 policy: HeapPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 stopping: Callable[[], bool] = lambda: False) -> None:
        self.policy = policy or HeapPolicy()
        self._departures, self._live, self._clock = departures, live, clock
        # A process that is stopping lets every connection go at once: a compaction then
        # would walk the whole heap of a process about to exit.
        self._stopping = stopping
        self._task: asyncio.Task[None] | None = None
        self.freezes = 0
        self.compactions = 0
        self.churn_share = self.policy.churn_share  # what the next churn compaction waits for
        self.frozen = 0  # objects frozen, as counted at the last compaction or count
        self._full_seen = 0
        self._departed_at_compaction = 0
        self._frozen_after = 0
        self._counted_at = 0.0  # the last compaction or count
        self._live_at_freeze = 0  # connections at the last freeze (or fewer, since)

    def register(self, registry: CollectorRegistry) -> None:
        """`roomcast_heap_frozen_objects`, `roomcast_heap_freezes_total` and
        `roomcast_heap_compactions_total` on /metrics."""
        registry.register(_HeapCollector(self))

    def start(self) -> None:
        """Freeze what start-up made, then keep watching. Its garbage is collected first, from
        the young generations only: what is old by now (modules, schemas, the store) is nearly
        all alive, and walking it all again cost every start-up CPU before it served anyone;
        what cycles it does hold wait for the first compaction."""
        gc.collect(1)
        gc.freeze()
        self._settled()
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.policy.interval)
            try:
                self.look()
            except Exception:  # the keeper must never take the process down
                log.exception("keeping the collector's heap failed")

    def look(self) -> None:
        """One look: compact if due, else freeze if a full collection ran since the last or
        `policy.arrivals` connections have come since the last freeze.

        Counting the frozen objects walks them all, so it is done only when `max_age` has
        passed since the last compaction or count (then the clock starts again). A stopping
        process is left alone."""
        if self._stopping():
            return
        departed = self._departures() - self._departed_at_compaction
        live = self._live()
        if self.policy.churned(departed=departed, live=live, share=self.churn_share):
            freed = self.compact()
            self.churn_share = self.policy.next_share(self.churn_share, freed=freed,
                                                      departed=departed)
            return
        if self._clock() - self._counted_at >= self.policy.max_age:
            self.frozen = gc.get_freeze_count()
            if self.policy.grown(frozen=self.frozen, frozen_after=self._frozen_after):
                self.compact()
                return
            self._counted_at = self._clock()
        self._live_at_freeze = min(self._live_at_freeze, live)
        if (_full_collections() != self._full_seen
                or live - self._live_at_freeze >= self.policy.arrivals):
            # What survived that collection has lived long: out of the next one's walk. The
            # young generations are collected first, so their garbage is not frozen with it.
            # Arrivals are frozen as they come: the connections' objects live long, and a
            # storm's full collections then walk half a second of them, not all since the
            # last one (whatever cycles they hold wait for a compaction).
            gc.collect(1)
            gc.freeze()
            self.freezes += 1
            self._full_seen = _full_collections()
            self._live_at_freeze = live

    def compact(self) -> int:
        """Everything frozen back in reach, one full collection, frozen again; returns the
        unreachable objects it found."""
        gc.unfreeze()
        freed = gc.collect()
        gc.freeze()
        self.compactions += 1
        self._settled()
        return freed

    def _settled(self) -> None:
        """The whole heap was just collected and frozen: the marks later looks compare with."""
        self._full_seen = _full_collections()
        self._departed_at_compaction = self._departures()
        self._frozen_after = self.frozen = gc.get_freeze_count()
        self._counted_at = self._clock()
        self._live_at_freeze = self._live()


class _HeapCollector(Collector):
    def __init__(self, keeper: HeapKeeper) -> None:
        self._keeper = keeper

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("roomcast_heap_frozen_objects",
                                "Objects kept out of the cycle collector's walk, as counted "
                                "at start-up, at the last compaction or every max_age",
                                value=self._keeper.frozen)
        yield CounterMetricFamily("roomcast_heap_freezes",
                                  "Full collections whose survivors were frozen",
                                  value=self._keeper.freezes)
        yield CounterMetricFamily("roomcast_heap_compactions",
                                  "Frozen heaps unfrozen and collected whole",
                                  value=self._keeper.compactions)
        yield GaugeMetricFamily("roomcast_heap_churn_share",
                                "Share of the live connections that must leave before churn "
                                "asks for the next compaction",
                                value=self._keeper.churn_share)


def _full_collections() -> int:
    return int(gc.get_stats()[2]["collections"])
