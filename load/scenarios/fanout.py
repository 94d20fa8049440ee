"""`fanout`: one publisher, N listeners in one room, a fixed publish rate; deliveries per
second and delivery latency."""

from __future__ import annotations

from typing import Any

from load.client import SioClient
from load.scenarios.base import (
    WorkerContext,
    connect_one,
    count_delivery,
    drain,
    finish,
    fresh_offset,
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
        if event != event_name or not fresh_offset(stats, client, wire.stored(args)):
            return
        payload = wire.payload_of(args)
        if payload is None or payload.get("from") != PUBLISHER:
            return
        count_delivery(stats, client, int(payload["ts"]), received_ns)
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
    sent = await publish(ctx, publisher, room)
    ctx.sync.add_published(sent)
    await ctx.sync.wait()  # the published count is final
    published = ctx.sync.published()
    stats.counters["expected"] += published * len(listeners)
    await drain(ctx, published * len(listeners), opts.drain)
    await finish(ctx, [*clients, *([publisher] if publisher else [])])


async def publish(ctx: WorkerContext, publisher: SioClient | None, room: str) -> int:
    """Send at the rate for the duration, counting `published` as it goes (the progress line
    shows it live); returns how many were sent. Without a publisher (another process has it,
    or it failed), just wait out the window."""
    stats = ctx.stats
    sent = 0

    def send(seq: int) -> None:
        nonlocal sent
        assert publisher is not None
        if not publisher.connected:  # dropped, and perhaps coming back (--reconnect)
            stats.error("send:disconnected")
            return
        ctx.wire.publish(publisher, room,
                         {"ts": ctx.clock(), "seq": seq, "from": PUBLISHER}, stats.error)
        stats.counters["published"] += 1
        sent += 1

    await paced(ctx.opts.rate, ctx.opts.duration, send if publisher else lambda n: None)
    return sent


async def _publisher(ctx: WorkerContext, room: str) -> SioClient | None:
    publisher = await connect_one(ctx, ctx.opts.clients, on_event=None, tag=[-1])
    if publisher is None:
        ctx.stats.error("publisher:connect")
        return None
    if ctx.wire.publisher_joins and not await join_all(ctx, [(publisher, room)]):
        ctx.stats.error("publisher:join")
        return None
    return publisher
