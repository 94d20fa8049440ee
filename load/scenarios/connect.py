"""`connect`: a connect storm at a controlled rate; connect latency and failures."""

from __future__ import annotations

from load.scenarios.base import WorkerContext, finish, hold_until, open_clients


async def run(ctx: WorkerContext) -> None:
    opts = ctx.opts
    rate = opts.rate / opts.procs
    share = ctx.share(opts.clients)
    # Attempts that would start after the run's end are not made: the run stays bounded.
    budget = int(rate * opts.duration) + 1
    indices = list(share)[:budget]
    ctx.stats.counters["not_attempted"] += len(share) - len(indices)
    clients = await open_clients(ctx, indices, on_event=None, rate=rate)
    ctx.stats.counters["peak_connected"] += sum(1 for c in clients if c.connected)
    await hold_until(ctx, opts.duration)
    await finish(ctx, clients)
    await ctx.sync.wait()
