"""`jobs`: real jobs run (a generated CSV uploaded at `--rate` uploads per second starts an
ingestion job each) while watchers subscribe to each job's room and receive its progress.

Watchers join `job:{id}` with `since=0` right after the upload is accepted, so progress made
before they joined arrives by replay. Losses are counted by offset: once the jobs have ended,
one more join of each job room reads the room's last offset from the server, and every watcher
in the room is owed offsets 1 to that one. `offset_gaps` counts the (watcher, event) pairs
missing, and `jobs:events_nobody_saw` the events no watcher got at all. Delivery latency here
is the fan-out spread: the time from the first watcher receiving an event to each other watcher
receiving it (the job runs inside the server, so there is no sender clock to compare with). One
process only.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import defaultdict
from typing import Any

import httpx

from load.client import SioClient
from load.roomcast import API, RoomcastWire
from load.scenarios.base import WorkerContext, drain, finish, open_clients, paced_tasks, wait_for
from load.stats import Stats

JOB_ENDS = ("job.completed", "job.failed", "job.cancelled")


def csv_rows(rows: int) -> bytes:
    lines = ["id,value,group"] + [f"{n},{n * 0.5:.1f},g{n % 7}" for n in range(rows)]
    return ("\n".join(lines) + "\n").encode()


async def run(ctx: WorkerContext) -> None:
    opts, stats = ctx.opts, ctx.stats
    wire = ctx.wire
    if not isinstance(wire, RoomcastWire) or not wire.project_id:
        raise TypeError("jobs needs the Roomcast contract and a project")
    first_seen: dict[tuple[str, int], int] = {}
    got: dict[tuple[str, int], set[int]] = defaultdict(set)  # (room, watcher) -> offsets
    rooms: dict[str, list[SioClient]] = {}  # job room -> the watchers that joined it
    last: dict[str, int] = {}  # job room -> its last offset, read once the jobs ended

    def on_event(client: SioClient, event: str, args: list[Any], received_ns: int) -> None:
        stored = wire.stored(args)
        if stored is None or not stored[0].startswith("job:"):
            return
        room, offset = stored
        offsets = got[(room, client.tag)]
        if offset in offsets:
            stats.counters["duplicates"] += 1
            return
        if offset > last.get(room, offset):
            stats.counters["extra"] += 1  # beyond what the server said the room holds
            return
        offsets.add(offset)
        if stored not in first_seen:
            first_seen[stored] = received_ns
            if event in JOB_ENDS:
                stats.counters[f"jobs:{event}"] += 1
        stats.delivered(first_seen[stored], received_ns)

    watchers = await open_clients(ctx, range(opts.clients), on_event=on_event,
                                  rate=opts.connect_rate, tags=lambda i: i)
    stats.counters["listeners"] += len(watchers)
    ctx.start_window()
    body = csv_rows(int(opts.extra.get("rows", 2000)))
    headers = {"Authorization": f"Bearer {wire.access.tokens[0]}"}
    async with httpx.AsyncClient(base_url=opts.url + API, headers=headers, timeout=30) as http:
        async def start_job() -> None:
            room = await _upload(ctx, http, wire.project_id or "", body)
            if room is not None:
                rooms[room] = await _join_all(ctx, wire, watchers, room)

        await paced_tasks(opts.rate, opts.duration, lambda n: start_job())
    counters = stats.counters
    # Wait for the jobs to end: each one's last event reaching some watcher.
    await wait_for(lambda: sum(counters[f"jobs:{e}"] for e in JOB_ENDS) >= counters["published"],
                   float(opts.extra.get("job_timeout", 60.0)))
    for room, members in rooms.items():
        if members:
            last[room] = await _last_offset(ctx, wire, members, room)
    owed = sum(final * len(rooms[room]) for room, final in last.items())
    stats.counters["expected"] += owed
    await drain(ctx, owed, opts.drain)
    _count_gaps(stats, got, rooms, last)
    await finish(ctx, watchers)


async def _upload(ctx: WorkerContext, http: httpx.AsyncClient, project_id: str,
                  body: bytes) -> str | None:
    """Upload one CSV, which starts an ingestion job; its room, or None when refused."""
    name = f"load-{secrets.token_hex(3)}.csv"
    try:
        response = await http.post(f"/projects/{project_id}/uploads",
                                   files={"file": (name, body, "text/csv")})
    except httpx.HTTPError as exc:
        ctx.stats.error(f"upload:{type(exc).__name__}")
        return None
    if response.status_code != 202:
        ctx.stats.error(f"upload:http_{response.status_code}")
        return None
    ctx.stats.counters["published"] += 1
    return f"job:{response.json()['job_id']}"


def _count_gaps(
    stats: Stats, got: dict[tuple[str, int], set[int]], rooms: dict[str, list[SioClient]],
    last: dict[str, int],
) -> None:
    """Offsets 1..last owed to every watcher of a job room: the missing ones are gaps."""
    for room, final in last.items():
        owed = set(range(1, final + 1))
        anyone: set[int] = set()
        for watcher in rooms[room]:
            offsets = got[(room, watcher.tag)]
            stats.counters["gaps"] += len(owed - offsets)
            anyone |= offsets
        stats.counters["jobs:events"] += final
        stats.counters["jobs:events_nobody_saw"] += len(owed - anyone)
async def _join_all(
    ctx: WorkerContext, wire: RoomcastWire, watchers: list[SioClient], room: str,
) -> list[SioClient]:
    """Every watcher joins the job room with since=0 (all its history replayed); returns those
    that joined."""
    results = await asyncio.gather(*(wire.join(w, room, since=0) for w in watchers),
                                   return_exceptions=True)
    joined = []
    for watcher, result in zip(watchers, results, strict=True):
        if isinstance(result, BaseException):
            ctx.stats.error(f"join:{type(result).__name__}")
            continue
        if result.get("recovered") is False:
            ctx.stats.error("recovery:history_gone")
        ctx.stats.counters["replayed"] += int(result.get("replayed") or 0)
        joined.append(watcher)
    return joined


async def _last_offset(
    ctx: WorkerContext, wire: RoomcastWire, members: list[SioClient], room: str,
) -> int:
    """The room's latest offset, as the server says in a join ack (joining twice is
    harmless)."""
    for member in members:
        try:
            ack = await wire.join(member, room)
        except Exception as exc:  # try the next watcher
            ctx.stats.error(f"join:{type(exc).__name__}")
            continue
        return int(ack.get("offset") or 0)
    return 0
