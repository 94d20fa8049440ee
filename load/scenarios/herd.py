"""`herd`: every client comes back at once. Clients in rooms of `--room-size` send messages
(`--rate` per second, all rooms together, each confirmed by the server); once all are in their
rooms the run writes `--ready-file`, and whoever runs the server restarts it or kills one of
its processes. Every dropped client reconnects (to the next `--url` in turn) with the official
socket.io-client's default backoff (`--backoff client`) or the load tool's quicker one
(`--backoff load`), and rejoins its room with `since` (a room whose history was reset by the
restart is joined again from its new start). Messages keep flowing from the clients that are
back, so the late ones must recover what was sent while they were away.

Reported under `herd`: clients dropped and back; the time from the first drop until the last
client was back in its room (`all_back_s`; a restart's downtime is part of it) and from the
first client back until the last (`spread_s`: how long the server took to take the crowd);
each client's time from its drop until it was back (`back`) and from the start of the
attempt that succeeded (`attempt`); and the messages missed: messages the server confirmed
that a member of their room never received.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from load.client import SioClient
from load.scenarios.base import WorkerContext, finish, join_all, open_clients, paced, wait_for
from load.scenarios.reconnect import Reconnects

BACK, ATTEMPT = "herd_back", "herd_attempt"
AFTER_HERD = 1.0  # seconds of messages after the last client is back, into full rooms


@dataclass
class Member:
    """A client's place: its index, its room, and the messages it received (sender, seq)."""

    index: int
    room: int
    seen: set[tuple[int, int]] = field(default_factory=set)


@dataclass
class Herd:
    reconnects: Reconnects
    first_lost_ns: int = 0
    first_back_ns: int = 0
    last_back_ns: int = 0
    back: set[int] = field(default_factory=set)

    def came_back(self, ctx: WorkerContext, client: SioClient, lost_ns: int,
                  attempt_ns: int) -> None:
        now = ctx.clock()
        member: Member = client.tag
        self.back.add(member.index)
        self.first_lost_ns = min(self.first_lost_ns or lost_ns, lost_ns)
        self.first_back_ns = min(self.first_back_ns or now, now)
        self.last_back_ns = max(self.last_back_ns, now)
        ctx.stats.record(BACK, (now - lost_ns) / 1000.0)
        ctx.stats.record(ATTEMPT, (now - attempt_ns) / 1000.0)

    def away(self, client: SioClient) -> bool:
        """Dropped and not back in its room yet."""
        return client in self.reconnects.away or not client.connected

    def done(self, clients: list[SioClient]) -> bool:
        """Some were dropped, and every one is back in its room."""
        return bool(self.back) and not any(self.away(c) for c in clients)


async def run(ctx: WorkerContext) -> None:
    opts, wire, stats = ctx.opts, ctx.wire, ctx.stats
    if ctx.reconnects is None:
        raise TypeError("herd needs reconnects")
    size = opts.room_size
    herd = Herd(ctx.reconnects)
    ctx.reconnects.on_back = lambda c, lost, began: herd.came_back(ctx, c, lost, began)

    def on_event(client: SioClient, event: str, args: list[Any], received_ns: int) -> None:
        if event != wire.delivery_event:
            return
        stored = wire.stored(args)
        if stored is not None and stored[1] > client.rooms.get(stored[0], 0):
            client.rooms[stored[0]] = stored[1]  # the `since` of the next rejoin
        payload = wire.payload_of(args)
        if payload is not None and "seq" in payload:
            client.tag.seen.add((int(payload["from"]), int(payload["seq"])))

    clients = await open_clients(ctx, range(opts.clients), on_event=on_event,
                                 rate=opts.connect_rate,
                                 tags=lambda i: Member(i, i // size))
    joined = await join_all(ctx, [(c, wire.room(c.tag.room)) for c in clients])
    stats.counters["listeners"] += len(joined)
    confirmed: list[tuple[int, int, int]] = []  # (sender, seq, room) the server confirmed

    def send(n: int) -> None:
        client = joined[n % len(joined)]
        member: Member = client.tag
        if herd.away(client):
            return  # a client sends nothing until it is back in its room
        key = (member.index, n)
        wire.publish(client, wire.room(member.room),
                     {"ts": ctx.clock(), "seq": n, "from": member.index}, stats.error,
                     on_ok=lambda: confirmed.append((*key, member.room)))
        stats.counters["published"] += 1

    ctx.start_window()
    sending = asyncio.create_task(_send_until_over(ctx, herd, joined, send))
    ready = opts.extra.get("ready_file")
    if ready:
        ready.write_text("ready\n")
    await sending
    # Until every confirmed message reached every other member of its room (confirmations
    # of the last messages may still be on their way: counted as they come).
    await wait_for(lambda: _tally(joined, confirmed)[0] == 0, opts.drain)
    missed, delivered = _tally(joined, confirmed)
    stats.counters["expected"] += missed + delivered
    stats.counters["delivered"] += delivered
    _count(ctx, herd, joined)
    await finish(ctx, clients)


async def _send_until_over(ctx: WorkerContext, herd: Herd, joined: list[SioClient],
                           send: Callable[[int], None]) -> None:
    """Send until the herd is over (or `duration` seconds passed without one), then
    AFTER_HERD seconds more."""
    rate, step = ctx.opts.rate, 0.5
    sent = [0]

    def next_one(n: int) -> None:
        send(sent[0])
        sent[0] += 1

    while ctx.elapsed() < ctx.opts.duration and not herd.done(joined):
        await paced(rate, step, next_one)
    await paced(rate, AFTER_HERD, next_one)


def _tally(joined: list[SioClient], confirmed: list[tuple[int, int, int]]) -> tuple[int, int]:
    """(missed, delivered): of the messages confirmed so far, the deliveries owed to the
    other members of their rooms that did not happen, and those that did."""
    by_room: dict[int, set[tuple[int, int]]] = {}
    for sender, seq, room in confirmed:
        by_room.setdefault(room, set()).add((sender, seq))
    missed = delivered = 0
    for client in joined:
        member: Member = client.tag
        owed = {key for key in by_room.get(member.room, ()) if key[0] != member.index}
        got = len(owed & member.seen)
        delivered += got
        missed += len(owed) - got
    return missed, delivered


def _count(ctx: WorkerContext, herd: Herd, joined: list[SioClient]) -> None:
    stats = ctx.stats
    stats.counters["herd_dropped"] += len(herd.back) + sum(herd.away(c) for c in joined)
    stats.counters["herd_back"] += len(herd.back)
    if herd.back:
        stats.counters["herd_all_back_ms"] += (herd.last_back_ns - herd.first_lost_ns) // 10**6
        stats.counters["herd_spread_ms"] += (herd.last_back_ns - herd.first_back_ns) // 10**6
