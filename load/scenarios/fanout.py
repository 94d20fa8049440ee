"""`fanout`: one publisher, N listeners in one room, a fixed publish rate; deliveries per
second and delivery latency."""

from __future__ import annotations

from typing import Any

from load.client import SioClient
from load.scenarios.base import (
    WorkerContext,
    close_all,
    connect_one,
    drain,
    join_all,
    open_clients,
    paced,
)

PUBLISHER = -1  # the `from` of every published message


async def run(ctx: WorkerContext) -> None:
    opts, wire, stats = ctx.opts, ctx.wire, ctx.stats
    room = wire.room(0)
    event_name = wire.delivery_event

    def on_event(client: SioClient, event: str, args: list[Any], received_ns: int) -> None:
        if event != event_name:
            return
        payload = wire.payload_of(args)
        if payload is None or payload.get("from") != PUBLISHER:
            return
        stats.delivered(int(payload["ts"]), received_ns)
        seq = int(payload["seq"])
        if seq <= client.tag[0]:
            stats.counters["out_of_order"] += 1
        client.tag[0] = max(client.tag[0], seq)

    clients = await open_clients(ctx, ctx.share(opts.clients), on_event=on_event,
                                 rate=opts.connect_rate / opts.procs, tags=lambda i: [-1])
    listeners = await join_all(ctx, [(c, room) for c in clients])
    stats.counters["listeners"] += len(listeners)
    publisher = await _publisher(ctx, room) if ctx.index == 0 else None
    await ctx.sync.wait()  # every listener of every process is in the room
    ctx.start_window()

    def send(seq: int) -> None:
        assert publisher is not None
        wire.publish(publisher, room, {"ts": ctx.clock(), "seq": seq, "from": PUBLISHER},
                     stats.error)

    if publisher is not None:
        ctx.sync.add_published(await paced(opts.rate, opts.duration, send))
    else:
        await paced(opts.rate, opts.duration, lambda n: None)
    await ctx.sync.wait()  # the published count is final
    published = ctx.sync.published()
    if ctx.index == 0:
        stats.counters["published"] += published
    stats.counters["expected"] += published * len(listeners)
    await drain(ctx, published * len(listeners), opts.drain)
    close_all([*clients, *([publisher] if publisher else [])])


async def _publisher(ctx: WorkerContext, room: str) -> SioClient | None:
    publisher = await connect_one(ctx, ctx.opts.clients, on_event=None, tag=[-1])
    if publisher is None:
        ctx.stats.error("publisher:connect")
        return None
    if ctx.wire.publisher_joins and not await join_all(ctx, [(publisher, room)]):
        ctx.stats.error("publisher:join")
        return None
    return publisher
