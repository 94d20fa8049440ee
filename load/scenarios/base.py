"""What every scenario gets: its options, its share of the clients, the wire, the stats, and
the means to wait for the other load processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from load.client import Clock, ConnectFailed, EventHandler, SioClient
from load.contract import Wire
from load.scenarios.reconnect import Reconnects
from load.stats import Stats


@dataclass(frozen=True)
class Options:
    """The scenario options the CLI parsed (the same in every process)."""

    scenario: str
    url: str
    clients: int
    duration: float
    procs: int = 1
    rate: float = 10.0
    connect_rate: float = 500.0
    room_size: int = 10
    connect_timeout: float = 30.0
    drain: float = 5.0
    extra: dict[str, Any] = field(default_factory=dict)
    # Bring back clients the server dropped (--reconnect; always on in recovery).
    reconnect: bool = False
    # More server URLs (several processes of one deployment): client i connects to
    # urls[i % len(urls)], where urls = (url, *more_urls).
    more_urls: tuple[str, ...] = ()

    def url_for(self, index: int) -> str:
        urls = (self.url, *self.more_urls)
        return urls[index % len(urls)]


class Sync(Protocol):
    """Meeting points across load processes, and one shared number (messages published)."""

    async def wait(self) -> None: ...

    def add_published(self, n: int) -> None: ...

    def published(self) -> int: ...


class LocalSync:
    """Sync for a single process: nothing to wait for."""

    def __init__(self) -> None:
        self._published = 0

    async def wait(self) -> None:
        return None

    def add_published(self, n: int) -> None:
        self._published += n

    def published(self) -> int:
        return self._published


@dataclass
class WorkerContext:
    index: int
    opts: Options
    wire: Wire
    stats: Stats
    clock: Clock
    sync: Sync
    reconnects: Reconnects | None = None

    def share(self, total: int) -> range:
        """This process's contiguous part of `total` items."""
        procs = self.opts.procs
        lo = total * self.index // procs
        hi = total * (self.index + 1) // procs
        return range(lo, hi)

    def start_window(self) -> None:
        """Count timeline seconds from now: the measured window starts after setting up."""
        self.stats.t0_ns = self.clock()

    def elapsed(self) -> float:
        return (self.clock() - self.stats.t0_ns) / 1e9


async def open_clients(
    ctx: WorkerContext, indices: range | list[int], *, on_event: EventHandler | None,
    rate: float, tags: Callable[[int], Any] = lambda i: None,
) -> list[SioClient]:
    """Connect clients at `rate` per second (this process's share of the rate), recording
    connect latency and failures; returns the connected ones."""
    indices = list(indices)
    loop = asyncio.get_running_loop()
    start = loop.time()
    interval = 1.0 / rate if rate > 0 else 0.0

    async def one(position: int, index: int) -> SioClient | None:
        delay = start + position * interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        return await connect_one(ctx, index, on_event=on_event, tag=tags(index))

    results = await asyncio.gather(*(one(n, i) for n, i in enumerate(indices)))
    return [client for client in results if client is not None]


async def connect_one(
    ctx: WorkerContext, index: int, *, on_event: EventHandler | None, tag: Any = None,
) -> SioClient | None:
    """One connect attempt, measured; None when it failed (counted under its kind)."""
    stats = ctx.stats
    client = SioClient(on_event=on_event, on_close=_on_close(ctx), clock=ctx.clock, tag=tag)
    stats.counters["connect_attempts"] += 1
    url = ctx.opts.url_for(index)
    began = time.perf_counter_ns()
    try:
        await client.connect(url, auth=ctx.wire.auth(index), within=ctx.opts.connect_timeout)
    except ConnectFailed as exc:
        stats.connect_failed(exc.kind, ctx.clock())
        return None
    stats.connected((time.perf_counter_ns() - began) / 1000.0, ctx.clock())
    stats.counters[f"connected@{url}"] += 1
    if ctx.reconnects is not None:
        ctx.reconnects.track(client, index)
    return client


def _on_close(ctx: WorkerContext) -> Callable[[SioClient, str], None]:
    def closed(client: SioClient, reason: str) -> None:
        ctx.stats.counters["disconnected"] += 1
        if reason.startswith("client_"):
            return
        ctx.stats.error(f"disconnect:{reason}")
        if ctx.reconnects is not None:
            ctx.reconnects.dropped(client)

    return closed


async def join_all(ctx: WorkerContext, pairs: list[tuple[SioClient, str]]) -> list[SioClient]:
    """Join each client to its room, at most 200 joins in flight; returns those that joined."""
    gate = asyncio.Semaphore(200)

    async def one(client: SioClient, room: str) -> SioClient | None:
        async with gate:
            try:
                await ctx.wire.join(client, room)
            except Exception as exc:  # any refusal or timeout is a counted error, not a crash
                ctx.stats.error(f"join:{type(exc).__name__}")
                return None
            return client

    joined = await asyncio.gather(*(one(c, r) for c, r in pairs))
    return [client for client in joined if client is not None]


async def hold_until(ctx: WorkerContext, deadline: float) -> None:
    """Sleep until `deadline` (seconds since the run's start on ctx.clock)."""
    remaining = deadline - ctx.elapsed()
    if remaining > 0:
        await asyncio.sleep(remaining)


async def finish(ctx: WorkerContext, clients: list[SioClient]) -> None:
    """End of a scenario: no more reconnects, then every client leaves."""
    if ctx.reconnects is not None:
        await ctx.reconnects.stop()
    for client in clients:
        client.close()


def fresh_offset(stats: Stats, client: SioClient, stored: tuple[str, int] | None) -> bool:
    """Offset bookkeeping for one received event (`stored` is its room and offset, None when
    the server gives none): False for a duplicate (not above the last offset processed, as
    when an event arrives both replayed and live); offsets skipped count as `gaps`."""
    if stored is None:
        return True
    room, offset = stored
    last = client.rooms.get(room)
    if last is not None:
        if offset <= last:
            stats.counters["duplicates"] += 1
            return False
        if offset > last + 1:
            stats.counters["gaps"] += offset - last - 1
    client.rooms[room] = offset
    return True


def count_delivery(stats: Stats, client: SioClient, sent_ns: int, received_ns: int) -> None:
    """One delivery. A message sent before the client's latest reconnect came by replay: it
    is counted, but the time away is not a delivery latency."""
    if sent_ns < client.live_since_ns:
        stats.counters["delivered"] += 1
        stats.counters["replayed"] += 1
    else:
        stats.delivered(sent_ns, received_ns)


MIN_SLEEP = 0.001


async def paced(rate: float, duration: float, send: Callable[[int], None]) -> int:
    """Call send(n) for n = 0, 1, ... at `rate` per second for `duration` seconds, open loop:
    a late wake-up sends everything that came due, so a slow server cannot slow the schedule."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    total = int(rate * duration)
    sent = 0
    while sent < total:
        delay = start + sent / rate - loop.time()
        if delay > 0:
            # At least a millisecond: uvloop's timers have millisecond resolution, so a shorter
            # sleep returns at once and the loop would spin until the next send is due.
            await asyncio.sleep(max(delay, MIN_SLEEP))
        now = loop.time()
        while sent < total and start + sent / rate <= now:
            send(sent)
            sent += 1
    return sent


async def paced_tasks(
    rate: float, duration: float,
    start: Callable[[int], Coroutine[Any, Any, None] | None],
) -> None:
    """Like `paced`, but `start(n)` gives a coroutine (or None to skip this turn) run in its own
    task, so a slow one never delays the schedule; returns once every task ended."""
    pending: set[asyncio.Task[None]] = set()

    def launch(n: int) -> None:
        coro = start(n)
        if coro is not None:
            task = asyncio.create_task(coro)
            pending.add(task)  # hold a reference until it ends
            task.add_done_callback(pending.discard)

    await paced(rate, duration, launch)
    if pending:
        await asyncio.wait(pending)


async def drain(ctx: WorkerContext, expected: int, grace: float) -> None:
    """Wait until this process has seen `expected` deliveries, or `grace` seconds."""
    await wait_for(lambda: ctx.stats.counters["delivered"] >= expected, grace)


async def wait_for(done: Callable[[], bool], grace: float) -> None:
    """Wait until `done()` or `grace` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    # Polling a counter: an Event set from the hot receive path would cost every delivery.
    while not done() and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
