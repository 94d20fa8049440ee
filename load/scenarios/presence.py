"""`presence`: join/leave churn in one meeting room; the time until each member, and until
every member, sees each change (`presence:left` / `presence:joined`), and the changes some
members never saw.

Each client is its own user (presence counts users, not connections), so it needs as many
users as clients (`--register N`). It runs in one process: the time of a change and the
moments others see it are taken on one monotonic clock.

Who must see a change is decided from what the server confirmed, not from what the tool
intends: a member counts once its join was acked, and stops counting when it sends its own
leave. A change is owed to every member counted when the change was made, except one that
starts leaving before the change is acked and has not seen it yet (the server may rightly
have removed it first). What arrives at anyone else (a member part-way through a join or a
leave) is reported as `extra`, not as a delivery, and nothing is netted against losses.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from load.client import SioClient
from load.roomcast import RoomcastWire
from load.scenarios.base import WorkerContext, drain, finish, open_clients, paced_tasks
from load.stats import Stats

LEFT, JOINED = "presence:left", "presence:joined"
EVERYONE = "everyone"  # the named latency: from a change to the last owed member seeing it


class LeaveFailed(Exception):
    """The server refused or did not confirm a leave."""


@dataclass(eq=False)
class Change:
    event: str
    user: str
    made_ns: int
    owed: set[int]  # members (client indices) that must see it
    seen: dict[int, int] = field(default_factory=dict)  # member -> when it saw it
    acked: bool = False


class Ledger:
    """Server-confirmed membership, and every change with who owes and who saw it."""

    def __init__(self, stats: Stats, clients: dict[int, SioClient]) -> None:
        self.stats = stats
        self.clients = clients
        self.members: set[int] = set()  # join acked, no leave sent since
        self.changes: list[Change] = []
        self._latest: dict[tuple[str, str], Change] = {}

    def change(self, event: str, actor: int, user: str, now_ns: int) -> Change:
        owed = {m for m in self.members if m != actor and self.clients[m].connected}
        made = Change(event, user, now_ns, owed)
        self.changes.append(made)
        self._latest[(event, user)] = made
        return made

    def leaving(self, member: int) -> None:
        self.members.discard(member)
        for change in self.changes:
            if not change.acked and member not in change.seen:
                change.owed.discard(member)

    def saw(self, member: int, event: str, user: str, received_ns: int) -> None:
        change = self._latest.get((event, user))
        if change is None or received_ns < change.made_ns:
            return  # the joins while setting up, not a measured change
        if member in change.seen:
            self.stats.counters["duplicates"] += 1
            return
        change.seen[member] = received_ns
        if member in change.owed:
            self.stats.delivered(change.made_ns, received_ns)
        else:
            self.stats.counters["extra"] += 1

    def owed(self) -> int:
        """Deliveries owed (final once every change is acked)."""
        return sum(len(change.owed) for change in self.changes)

    def settle(self) -> None:
        """After the drain: the time until everyone saw each change, and the changes someone
        never saw."""
        self.stats.counters["changes"] += len(self.changes)
        for change in self.changes:
            if not change.owed:
                continue
            if change.owed <= change.seen.keys():
                last = max(change.seen[m] for m in change.owed)
                self.stats.record(EVERYONE, (last - change.made_ns) / 1000.0)
            else:
                self.stats.counters["changes_not_seen_by_all"] += 1


async def run(ctx: WorkerContext) -> None:
    opts, stats = ctx.opts, ctx.stats
    wire = ctx.wire
    if not isinstance(wire, RoomcastWire):
        raise TypeError("presence needs the Roomcast contract")
    users = wire.access.users_for(opts.clients)  # the user of each client
    if len(set(users)) < opts.clients:
        raise TypeError("presence needs one user per client")
    room = wire.room(0)
    by_index: dict[int, SioClient] = {}
    ledger = Ledger(stats, by_index)

    def on_event(client: SioClient, event: str, args: list[Any], received_ns: int) -> None:
        if event not in (LEFT, JOINED) or not args or not isinstance(args[0], dict):
            return
        data = args[0]
        user = data.get("user_id") or (data.get("user") or {}).get("user_id")
        ledger.saw(client.tag, event, str(user), received_ns)

    clients = await open_clients(ctx, range(opts.clients), on_event=on_event,
                                 rate=opts.connect_rate, tags=lambda i: i)
    by_index.update((c.tag, c) for c in clients)
    for client in clients:
        try:
            await wire.join(client, room)
        except Exception as exc:  # counted; that client sits the run out
            stats.error(f"join:{type(exc).__name__}")
            continue
        ledger.members.add(client.tag)
    stats.counters["listeners"] += len(ledger.members)
    ctx.start_window()
    offline = float(opts.extra.get("offline", 1.0))

    async def churn(client: SioClient) -> None:
        index = client.tag
        change = ledger.change(LEFT, index, users[index], ctx.clock())
        try:
            ledger.leaving(index)
            client.rooms.pop(room, None)
            ack = await client.call("leave", {"room": room})
            if not ack or not isinstance(ack[0], dict) or not ack[0].get("ok"):
                raise LeaveFailed(f"leave {room} refused: {ack!r}")
            change.acked = True  # from here, members leaving still owe it
            await asyncio.sleep(offline)
            change = ledger.change(JOINED, index, users[index], ctx.clock())
            await wire.join(client, room)
            ledger.members.add(index)
        except Exception as exc:  # counted; that client sits the rest of the run out
            stats.error(f"churn:{type(exc).__name__}")
        finally:
            change.acked = True

    def change(n: int) -> Coroutine[Any, Any, None] | None:
        settled = [m for m in ledger.members if by_index[m].connected]
        if len(settled) < 2:
            return None
        stats.counters["published"] += 1
        return churn(by_index[random.choice(settled)])

    await paced_tasks(opts.rate, opts.duration, change)
    owed = ledger.owed()
    stats.counters["expected"] += owed
    await drain(ctx, owed, opts.drain)
    ledger.settle()
    await finish(ctx, clients)
