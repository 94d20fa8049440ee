"""`recovery`: listeners drop and reconnect (round-robin over the server URLs, so to another
process when several are given) while a publisher sends; each rejoins with `since` = the last
offset it saw and must receive what it missed. Losses are counted by offset."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any

from load.client import SioClient
from load.roomcast import RoomcastWire
from load.scenarios.base import (
    WorkerContext,
    close_all,
    connect_one,
    drain,
    open_clients,
    paced,
)
from load.scenarios.fanout import PUBLISHER


@dataclass
class Listener:
    index: int
    last_offset: int = 0
    live_since_ns: int = 0  # messages sent before this arrived by replay
    hops: int = 0


async def run(ctx: WorkerContext) -> None:
    opts, stats = ctx.opts, ctx.stats
    wire = ctx.wire
    if not isinstance(wire, RoomcastWire):
        raise TypeError("recovery needs the Roomcast contract (offsets and `since`)")
    room = wire.room(0)

    def on_event(client: SioClient, event: str, args: list[Any], received_ns: int) -> None:
        payload = wire.payload_of(args) if event == wire.delivery_event else None
        if payload is None or payload.get("from") != PUBLISHER or payload["offset"] is None:
            return
        listener: Listener = client.tag
        offset = int(payload["offset"])
        if offset <= listener.last_offset:
            stats.counters["duplicates"] += 1
            return
        if offset > listener.last_offset + 1:
            stats.counters["gaps"] += offset - listener.last_offset - 1
        listener.last_offset = offset
        if int(payload["ts"]) >= listener.live_since_ns:
            stats.delivered(int(payload["ts"]), received_ns)
        else:
            stats.counters["delivered"] += 1
            stats.counters["replayed"] += 1

    async def join(client: SioClient, since: int | None) -> bool:
        try:
            ack = await wire.join(client, room, since=since)
        except Exception as exc:  # counted; the listener stays out
            stats.error(f"join:{type(exc).__name__}")
            return False
        if since is None:
            client.tag.last_offset = int(ack.get("offset") or 0)
        elif ack.get("recovered") is False:
            stats.error("recovery:history_gone")
        return True

    clients = await open_clients(ctx, ctx.share(opts.clients), on_event=on_event,
                                 rate=opts.connect_rate / opts.procs, tags=Listener)
    joined = [c for c, ok in zip(clients, await asyncio.gather(
        *(join(c, None) for c in clients)), strict=True) if ok]
    stats.counters["listeners"] += len(joined)
    publisher = (await connect_one(ctx, opts.clients, on_event=None, tag=Listener(opts.clients))
                 if ctx.index == 0 else None)
    if publisher is not None and not await join(publisher, None):
        publisher = None
    await ctx.sync.wait()
    ctx.start_window()
    live = {c.tag.index: c for c in joined}
    pending: set[asyncio.Task[None]] = set()

    async def reconnect(listener: Listener) -> None:
        await asyncio.sleep(float(opts.extra.get("offline", 1.0)))
        listener.hops += 1
        listener.live_since_ns = ctx.clock()
        client = await connect_one(ctx, listener.index + listener.hops, on_event=on_event,
                                   tag=listener)
        if client is not None and await join(client, listener.last_offset):
            live[listener.index] = client
            stats.counters["reconnects"] += 1

    def drop(n: int) -> None:
        if not live:
            return
        client = live.pop(random.choice(list(live)))
        client.abort()
        task = asyncio.create_task(reconnect(client.tag))
        pending.add(task)  # hold a reference until it ends
        task.add_done_callback(pending.discard)

    def send(seq: int) -> None:
        assert publisher is not None
        wire.publish(publisher, room, {"ts": ctx.clock(), "seq": seq, "from": PUBLISHER},
                     stats.error)

    drop_rate = float(opts.extra.get("drop_rate", 5.0)) / opts.procs
    dropping = asyncio.create_task(paced(drop_rate, opts.duration, drop))
    if publisher is not None:
        ctx.sync.add_published(await paced(opts.rate, opts.duration, send))
    await dropping
    if pending:
        await asyncio.wait(pending)
    await ctx.sync.wait()
    published = ctx.sync.published()
    if ctx.index == 0:
        stats.counters["published"] += published
    stats.counters["expected"] += published * len(joined)
    await drain(ctx, published * len(joined), opts.drain)
    close_all([*live.values(), *([publisher] if publisher else [])])
