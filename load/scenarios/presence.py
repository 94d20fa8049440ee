"""`presence`: join/leave churn in one meeting room; the time until every other member sees
each change (`presence:left` / `presence:joined`), and the changes some members never saw.

Each client is its own user (presence counts users, not connections), so it needs as many
tokens as clients (`--register N`). It runs in one process: the time of a change and the
moments others see it are taken on one monotonic clock.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from load.client import SioClient
from load.roomcast import RoomcastWire
from load.scenarios.base import WorkerContext, close_all, drain, open_clients, paced

LEFT, JOINED = "presence:left", "presence:joined"


async def run(ctx: WorkerContext) -> None:
    opts, stats = ctx.opts, ctx.stats
    wire = ctx.wire
    if not isinstance(wire, RoomcastWire) or len(wire.access.user_ids) < opts.clients:
        raise TypeError("presence needs the Roomcast contract and one user per client")
    room = wire.room(0)
    user_ids = wire.access.user_ids
    changed_at: dict[tuple[str, str], int] = {}  # (event, user_id) -> when it was made

    def on_event(client: SioClient, event: str, args: list[Any], received_ns: int) -> None:
        if event not in (LEFT, JOINED) or not args or not isinstance(args[0], dict):
            return
        data = args[0]
        user = data.get("user_id") or (data.get("user") or {}).get("user_id")
        made = changed_at.get((event, str(user)))
        if made is not None:
            stats.delivered(made, received_ns)

    clients = await open_clients(ctx, range(opts.clients), on_event=on_event,
                                 rate=opts.connect_rate, tags=lambda i: i)
    inside: set[SioClient] = set()
    for client in clients:
        try:
            await wire.join(client, room)
        except Exception as exc:  # counted; that client sits the run out
            stats.error(f"join:{type(exc).__name__}")
            continue
        inside.add(client)
    stats.counters["listeners"] += len(inside)
    ctx.start_window()
    pending: set[asyncio.Task[None]] = set()

    async def churn(client: SioClient) -> None:
        user = user_ids[client.tag]
        try:
            changed_at[(LEFT, user)] = ctx.clock()
            stats.counters["expected"] += len(inside) - 1
            inside.discard(client)
            await client.call("leave", {"room": room})
            await asyncio.sleep(float(opts.extra.get("offline", 1.0)))
            changed_at[(JOINED, user)] = ctx.clock()
            stats.counters["expected"] += len(inside)
            await wire.join(client, room)
            inside.add(client)
        except Exception as exc:  # counted; the run goes on
            stats.error(f"churn:{type(exc).__name__}")

    def change(n: int) -> None:
        if len(inside) < 2:
            return
        task = asyncio.create_task(churn(random.choice(list(inside))))
        pending.add(task)  # hold a reference until it ends
        task.add_done_callback(pending.discard)
        stats.counters["published"] += 1

    await paced(opts.rate, opts.duration, change)
    if pending:
        await asyncio.wait(pending)
    await drain(ctx, stats.counters["expected"], opts.drain)
    close_all(clients)
