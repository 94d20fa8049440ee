"""`jobs`: real jobs run (a generated CSV uploaded at `--rate` uploads per second starts an
ingestion job each) while watchers subscribe to each job's room and receive its progress.

Watchers join `job:{id}` with `since=0` right after the upload is accepted, so progress made
before they joined arrives by replay. Every event is counted per watcher by (job, offset):
`lost` counts events some watcher never got. Delivery latency here is the fan-out spread: the
time from the first watcher receiving an event to each other watcher receiving it (the job
runs inside the server, so there is no sender clock to compare with). One process only.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx

from load.client import SioClient
from load.roomcast import API, RoomcastWire
from load.scenarios.base import (
    WorkerContext,
    close_all,
    drain,
    open_clients,
    paced,
    wait_for,
)

JOB_EVENTS = ("job.progress", "job.completed", "job.failed", "job.cancelled")


def csv_rows(rows: int) -> bytes:
    lines = ["id,value,group"] + [f"{n},{n * 0.5:.1f},g{n % 7}" for n in range(rows)]
    return ("\n".join(lines) + "\n").encode()


async def run(ctx: WorkerContext) -> None:
    opts, stats = ctx.opts, ctx.stats
    wire = ctx.wire
    if not isinstance(wire, RoomcastWire) or not wire.project_id:
        raise TypeError("jobs needs the Roomcast contract and a project")
    first_seen: dict[tuple[str, int], int] = {}
    seen: set[tuple[int, str, int]] = set()

    def on_event(client: SioClient, event: str, args: list[Any], received_ns: int) -> None:
        if event not in JOB_EVENTS or not args or not isinstance(args[0], dict):
            return
        data = args[0]
        if not str(data.get("room", "")).startswith("job:") or data.get("offset") is None:
            return
        key = (str(data["room"]), int(data["offset"]))
        if (client.tag, *key) in seen:
            stats.counters["duplicates"] += 1
            return
        seen.add((client.tag, *key))
        if key not in first_seen:
            first_seen[key] = received_ns
            if event != "job.progress":
                stats.counters[f"jobs:{event}"] += 1
        stats.delivered(first_seen[key], received_ns)

    watchers = await open_clients(ctx, range(opts.clients), on_event=on_event,
                                  rate=opts.connect_rate, tags=lambda i: i)
    stats.counters["listeners"] += len(watchers)
    ctx.start_window()
    body = csv_rows(int(opts.extra.get("rows", 2000)))
    pending: set[asyncio.Task[None]] = set()
    headers = {"Authorization": f"Bearer {wire.access.tokens[0]}"}

    async with httpx.AsyncClient(base_url=opts.url + API, headers=headers, timeout=30) as http:
        async def start_job() -> None:
            name = f"load-{secrets.token_hex(3)}.csv"
            try:
                response = await http.post(f"/projects/{wire.project_id}/uploads",
                                            files={"file": (name, body, "text/csv")})
            except httpx.HTTPError as exc:
                stats.error(f"upload:{type(exc).__name__}")
                return
            if response.status_code != 202:
                stats.error(f"upload:http_{response.status_code}")
                return
            stats.counters["published"] += 1
            room = f"job:{response.json()['job_id']}"
            results = await asyncio.gather(
                *(wire.join(w, room, since=0) for w in watchers), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    stats.error(f"join:{type(result).__name__}")

        def launch(n: int) -> None:
            task = asyncio.create_task(start_job())
            pending.add(task)  # hold a reference until it ends
            task.add_done_callback(pending.discard)

        await paced(opts.rate, opts.duration, launch)
        if pending:
            await asyncio.wait(pending)
    # Wait for the jobs to finish: every job's completion reaching every watcher.
    counters = stats.counters
    await wait_for(lambda: counters["jobs:job.completed"] + counters["jobs:job.failed"]
                   + counters["jobs:job.cancelled"] >= counters["published"],
                   float(opts.extra.get("job_timeout", 60.0)))
    stats.counters["expected"] += len(first_seen) * len(watchers)
    await drain(ctx, stats.counters["expected"], opts.drain)
    close_all(watchers)
