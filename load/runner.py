"""Runs a scenario in this process, or in N forked processes whose stats the parent merges."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import multiprocessing.synchronize
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

from load.client import Clock
from load.contract import Wire
from load.heap import frozen_survivors
from load.scenarios import connect, fanout, herd, jobs, presence, recovery, rooms
from load.scenarios.base import LocalSync, Options, Sync, WorkerContext
from load.scenarios.reconnect import Backoff, ClientBackoff, Reconnects
from load.stats import Stats

Scenario = Callable[[WorkerContext], Coroutine[Any, Any, None]]
Progress = Callable[[dict[str, int]], None]

SCENARIOS: dict[str, Scenario] = {
    "connect": connect.run,
    "fanout": fanout.run,
    "rooms": rooms.run,
    "presence": presence.run,
    "recovery": recovery.run,
    "jobs": jobs.run,
    "herd": herd.run,
}


def time_bound(opts: Options) -> float:
    """The longest a run may take before it is cut short (it normally ends well before)."""
    connecting = opts.clients / max(opts.connect_rate, 1.0) + opts.connect_timeout
    return connecting + opts.duration + opts.drain + 30.0


def run(
    scenario: Scenario, opts: Options, wire: Wire, *, progress: Progress | None,
) -> tuple[Stats, str]:
    """Run `scenario`; returns the merged stats and the clock name latencies were taken on."""
    if opts.procs <= 1:
        t0 = time.monotonic_ns()
        stats = _run_async(
            _drive(0, scenario, opts, wire, time.monotonic_ns, t0, LocalSync(), progress)
        )
        return stats, "monotonic"
    return _run_forked(scenario, opts, wire, progress), "wall"


def _run_async(coro: Coroutine[Any, Any, Stats]) -> Stats:
    with new_runner() as runner:
        return runner.run(coro)


def new_runner() -> asyncio.Runner:
    """An asyncio runner on uvloop where it is installed (every load process uses one)."""
    try:
        import uvloop
    except ImportError:  # the standard loop works too, at a higher cost per connection
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


async def _drive(
    index: int, scenario: Scenario, opts: Options, wire: Wire, clock: Clock, t0_ns: int,
    sync: Sync, progress: Progress | None,
) -> Stats:
    stats = Stats(t0_ns)
    backoff = ClientBackoff() if opts.extra.get("backoff") == "client" else Backoff()
    reconnects = (Reconnects(stats=stats, wire=wire, clock=clock, url_for=opts.url_for,
                             timeout=opts.connect_timeout, backoff=backoff,
                             restart_reset=opts.scenario == "herd")
                  if opts.reconnect else None)
    ctx = WorkerContext(index=index, opts=opts, wire=wire, stats=stats, clock=clock, sync=sync,
                        reconnects=reconnects)
    async with frozen_survivors():
        await _watch(asyncio.create_task(scenario(ctx)), opts, stats, progress)
    if reconnects is not None:
        await reconnects.stop()
    return stats


async def _watch(task: asyncio.Task[None], opts: Options, stats: Stats,
                 progress: Progress | None) -> None:
    """Wait for the scenario, reporting progress; cut it short at its time bound."""
    bound = time_bound(opts)
    deadline = asyncio.get_running_loop().time() + bound
    while not task.done():
        await asyncio.wait([task], timeout=0.5)
        if progress is not None:
            progress(stats.progress())
        if asyncio.get_running_loop().time() > deadline and not task.done():
            task.cancel()
            stats.error("run:time_bound")
            stats.fail(f"the run overran its time bound ({bound:.0f}s) and was cut short")
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception as exc:  # report what was measured so far, and why the run stopped
        stats.error(f"run:{type(exc).__name__}")
        stats.fail(f"the scenario raised {type(exc).__name__}: {exc}")
        print(f"roomcast load: scenario failed: {exc!r}", file=sys.stderr)


class ForkedSync:
    """Sync across processes: a barrier and a shared published counter."""

    def __init__(self, barrier: mp.synchronize.Barrier, published: Any, timeout: float) -> None:
        self._barrier = barrier
        self._published = published
        self._timeout = timeout

    async def wait(self) -> None:
        try:
            await asyncio.to_thread(self._barrier.wait, self._timeout)
        except threading.BrokenBarrierError:
            raise RuntimeError("another load process failed or timed out") from None

    def add_published(self, n: int) -> None:
        with self._published.get_lock():
            self._published.value += n

    def published(self) -> int:
        return int(self._published.value)


def _run_forked(
    scenario: Scenario, opts: Options, wire: Wire, progress: Progress | None,
) -> Stats:
    context = mp.get_context("fork")
    barrier = context.Barrier(opts.procs)
    published = context.Value("q", 0)
    messages: mp.Queue[tuple[str, int, Any]] = context.Queue()
    t0 = time.time_ns()
    workers = [
        context.Process(target=_child, daemon=True,
                        args=(i, scenario, opts, wire, t0, barrier, published, messages))
        for i in range(opts.procs)
    ]
    for worker in workers:
        worker.start()
    merged = Stats(t0)
    latest: dict[int, dict[str, int]] = {}
    done: set[int] = set()
    while len(done) < opts.procs:
        try:
            kind, index, data = messages.get(timeout=1.0)
        except queue.Empty:
            for i, worker in enumerate(workers):
                if i not in done and not worker.is_alive():
                    done.add(i)
                    merged.error("process:died")
                    merged.fail(f"load process {i} died (exit code {worker.exitcode})")
            continue
        if kind == "progress":
            latest[index] = data
            if progress is not None:
                progress({k: sum(p[k] for p in latest.values()) for k in data})
        elif kind == "done":
            done.add(index)
            merged.merge(Stats.from_wire(data))
        else:
            done.add(index)
            merged.error("process:failed")
            merged.fail(f"load process {index} failed: {str(data).strip().splitlines()[-1]}")
            print(f"roomcast load: process {index} failed:\n{data}", file=sys.stderr)
    for worker in workers:
        worker.join(10)
    return merged


def _child(
    index: int, scenario: Scenario, opts: Options, wire: Wire, t0: int,
    barrier: mp.synchronize.Barrier, published: Any, messages: mp.Queue[tuple[str, int, Any]],
) -> None:
    sync = ForkedSync(barrier, published, time_bound(opts))

    def progress(snapshot: dict[str, int]) -> None:
        messages.put(("progress", index, snapshot))

    try:
        stats = _run_async(_drive(index, scenario, opts, wire, time.time_ns, t0, sync, progress))
    except BaseException:
        barrier.abort()
        messages.put(("failed", index, traceback.format_exc()))
        return
    messages.put(("done", index, stats.to_wire()))
