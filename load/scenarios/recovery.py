"""`recovery`: listeners drop and reconnect (round-robin over the server URLs, so to another
process when several are given) while a publisher sends; each rejoins with `since` = the last
offset it saw and must receive what it missed. Losses are counted by offset.

The reconnect is the one `--reconnect` gives fanout and rooms (load/scenarios/reconnect.py);
here it is always on, so a listener the server drops comes back too."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from typing import Any

from load.client import SioClient
from load.roomcast import RoomcastWire
from load.scenarios.base import (
    WorkerContext,
    connect_one,
    count_delivery,
    drain,
    finish,
    fresh_offset,
    join_all,
    open_clients,
    paced_tasks,
)
from load.scenarios.fanout import PUBLISHER, publish


async def run(ctx: WorkerContext) -> None:
    opts, stats = ctx.opts, ctx.stats
    wire, reconnects = ctx.wire, ctx.reconnects
    if not isinstance(wire, RoomcastWire) or reconnects is None:
        raise TypeError("recovery needs the Roomcast contract (offsets and `since`) and "
                        "reconnects")
    room = wire.room(0)

    def on_event(client: SioClient, event: str, args: list[Any], received_ns: int) -> None:
        if event != wire.delivery_event or not fresh_offset(stats, client, wire.stored(args)):
            return
        payload = wire.payload_of(args)
        if payload is not None and payload.get("from") == PUBLISHER:
            count_delivery(stats, client, int(payload["ts"]), received_ns)

    clients = await open_clients(ctx, ctx.share(opts.clients), on_event=on_event,
                                 rate=opts.connect_rate / opts.procs, tags=lambda i: i)
    joined = await join_all(ctx, [(c, room) for c in clients])
    stats.counters["listeners"] += len(joined)
    publisher = await connect_one(ctx, opts.clients, on_event=None) if ctx.index == 0 else None
    if publisher is not None and not await join_all(ctx, [(publisher, room)]):
        publisher = None
    await ctx.sync.wait()
    ctx.start_window()
    live = {c.tag: c for c in joined}
    offline = float(opts.extra.get("offline", 1.0))

    async def come_back(client: SioClient) -> None:
        if await reconnects.run(client, after=offline):
            live[client.tag] = client

    def drop(n: int) -> Coroutine[Any, Any, None] | None:
        connected = [index for index, c in live.items() if c.connected]
        if not connected:
            return None
        client = live.pop(random.choice(connected))
        client.abort()
        return come_back(client)

    drop_rate = float(opts.extra.get("drop_rate", 5.0)) / opts.procs
    dropping = asyncio.create_task(paced_tasks(drop_rate, opts.duration, drop))
    ctx.sync.add_published(await publish(ctx, publisher, room))
    await dropping  # every dropped listener is back, or gave up
    await ctx.sync.wait()
    published = ctx.sync.published()
    stats.counters["expected"] += published * len(joined)
    await drain(ctx, published * len(joined), opts.drain)
    await finish(ctx, [*joined, *([publisher] if publisher else [])])
