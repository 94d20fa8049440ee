"""`rooms`: many small rooms where every client talks (a busy set of meetings)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from load.client import SioClient
from load.scenarios.base import (
    WorkerContext,
    count_delivery,
    drain,
    finish,
    fresh_offset,
    join_all,
    open_clients,
    paced,
)


async def run(ctx: WorkerContext) -> None:
    opts, wire, stats = ctx.opts, ctx.wire, ctx.stats
    size = max(opts.room_size, 2)
    # Whole rooms per process, so each sender knows how many listeners its room has.
    rooms = ctx.share(math.ceil(opts.clients / size))
    indices = [i for r in rooms for i in range(r * size, min((r + 1) * size, opts.clients))]
    event_name = wire.delivery_event

    def on_event(client: SioClient, event: str, args: list[Any], received_ns: int) -> None:
        if event != event_name or not fresh_offset(stats, client, wire.stored(args)):
            return
        payload = wire.payload_of(args)
        own, last = client.tag
        if payload is None or payload.get("from") == own:
            return
        count_delivery(stats, client, int(payload["ts"]), received_ns)
        sender, seq = payload.get("from"), int(payload["seq"])
        if seq <= last.get(sender, -1):
            stats.counters["out_of_order"] += 1
        last[sender] = max(seq, last.get(sender, -1))

    clients = await open_clients(ctx, indices, on_event=on_event,
                                 rate=opts.connect_rate / opts.procs,
                                 tags=lambda i: (i, {}))
    joined = await join_all(ctx, [(c, wire.room(c.tag[0] // size)) for c in clients])
    members: dict[int, int] = defaultdict(int)
    for client in joined:
        members[client.tag[0] // size] += 1
    stats.counters["listeners"] += len(joined)
    await ctx.sync.wait()
    ctx.start_window()

    def send(n: int) -> None:
        client = joined[n % len(joined)]
        index = client.tag[0]
        if not client.connected:
            stats.error("send:disconnected")
            return
        wire.publish(client, wire.room(index // size),
                     {"ts": ctx.clock(), "seq": n // len(joined), "from": index}, stats.error)
        stats.counters["published"] += 1
        stats.counters["expected"] += members[index // size] - 1

    if joined:
        await paced(opts.rate * len(joined), opts.duration, send)
    await ctx.sync.wait()
    await drain(ctx, stats.counters["expected"], opts.drain)
    await finish(ctx, clients)
