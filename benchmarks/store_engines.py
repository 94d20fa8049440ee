"""The embedded store candidates measured side by side (benchmarks/store_candidates.py).

    .venv/bin/python -m benchmarks.store_engines tests      # (a) repository tests on each
    .venv/bin/python -m benchmarks.store_engines messages   # (b) acknowledged meeting messages
    .venv/bin/python -m benchmarks.store_engines startup    # (c) start-up, N documents; (d) disk
    .venv/bin/python -m benchmarks.store_engines writes     # acknowledged writes per second

Each prints one markdown row per candidate (`--candidate` repeats to pick some). Every part is
bounded: a candidate that cannot finish in its time is reported as such.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.servers import ROOT, free_port, pinned, process, wait_ready
from benchmarks.store_candidates import CANDIDATES, open_candidate
from core.store.database import close_mongo

# The repository tests: every repository method the code uses, through REST and sockets.
REPOSITORY_TESTS = [
    "tests/integration/test_projects.py", "tests/integration/test_projects_members.py",
    "tests/integration/test_tasks.py", "tests/integration/test_meetings.py",
    "tests/integration/test_notifications.py", "tests/integration/test_auth.py",
    "tests/integration/test_admin.py", "tests/integration/test_users.py",
    "tests/integration/test_lists.py", "tests/integration/test_account_deletion.py",
    "tests/unit/test_message_writes.py", "tests/unit/test_auth_bootstrap.py",
]
SERVE_ENV = {
    "ENV": "test", "LOG_LEVEL": "WARNING",
    "SOCKET_EVENTS_PER_SECOND": "100000", "SOCKET_EVENT_BURST": "100000",
    "RATE_LIMIT_IP_PER_MINUTE": "1000000", "RATE_LIMIT_USER_PER_MINUTE": "1000000",
}


def run_tests(candidate: str, timeout: float) -> str:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "benchmarks.store_candidates",
           "-p", "no:cacheprovider", "--timeout", "60", *REPOSITORY_TESTS]
    try:
        done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "STORE_CANDIDATE": candidate},
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"not finished in {timeout:g} s"
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-200:]
    return re.sub(r"=+", "", last).strip()


def run_messages(candidate: str, work: Path, clients: int, rates: list[float],
                 duration: float) -> list[dict[str, Any]]:
    """`roomcast load rooms` against `roomcast serve` on the candidate, rate by rate."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**SERVE_ENV, "DATA_DIR": str(work / f"data-{candidate}")}
    shutil.rmtree(work / f"data-{candidate}", ignore_errors=True)
    serve = [*pinned(0), sys.executable, "-m", "benchmarks.store_candidates", candidate,
             "serve", "--host", "127.0.0.1", "--port", str(port)]
    rows = []
    with process(serve, env, work / f"serve-{candidate}.log") as proc:
        wait_ready(url, proc)
        for rate in rates:
            report = work / f"rooms-{candidate}-{rate:g}.json"
            load = [*pinned(1), sys.executable, "-m", "roomcast.cli", "load", "rooms", "--url",
                    url, "--register", "1", "--clients", str(clients), "--room-size", "10",
                    "--rate", f"{rate:g}", "--duration", f"{duration:g}", "--json", str(report)]
            try:
                subprocess.run(load, cwd=ROOT, capture_output=True, timeout=duration * 20 + 120,
                               check=False)
            except subprocess.TimeoutExpired:
                rows.append({"rate": rate, "status": "load run timed out"})
                break
            rows.append(_room_row(rate, report, duration))
            if proc.poll() is not None:
                break
    stored = _stored_messages(candidate, work / f"data-{candidate}")
    if stored is not None:
        rows.append({"stored_after_stop": stored,
                     "sent": sum(r.get("sent_per_s", 0) for r in rows) * duration})
    return rows


def _room_row(rate: float, report: Path, duration: float) -> dict[str, Any]:
    """One rate: sent, delivered, lost, p99, and whether it held (the README's measure: p99
    under 100 ms, nothing lost, no error, which needs every message stored and acknowledged
    in time, as the next ones queue behind it)."""
    if not report.exists():
        return {"rate": rate, "status": "no report"}
    data = json.loads(report.read_text())
    delivery, errors = data["delivery"], data.get("errors", {})
    p99 = delivery["latency_ms"]["p99"]
    return {"rate": rate, "sent_per_s": round(delivery["published"] / duration),
            "delivered": delivery["delivered"], "lost": delivery["lost"], "p99_ms": p99,
            "errors": errors,
            "held": bool(p99 is not None and p99 < 100 and not delivery["lost"] and not errors)}


def _stored_messages(candidate: str, directory: Path) -> int | None:
    """Messages a durable candidate holds after its server stopped (they were acknowledged)."""
    if candidate != "journal":
        return None

    async def count() -> int:
        client, db = open_candidate(candidate, directory / "store")
        try:
            return int(await db["meeting_messages"].count_documents({}))
        finally:
            await close_mongo(client)

    return asyncio.run(count())


async def _fill(candidate: str, directory: Path, documents: int, budget: float
                ) -> tuple[int, str | None]:
    """Store meeting-message-like documents until `documents` or the time budget: how many,
    and the error that stopped it early, if one did."""
    client, db = open_candidate(candidate, directory)
    collection, written, started = db["meeting_messages"], 0, time.monotonic()
    try:
        while written < documents and time.monotonic() - started < budget:
            batch = [_message(written + i) for i in range(min(5000, documents - written))]
            await collection.insert_many(batch)
            written += len(batch)
        if candidate == "journal":  # what a long-running server has: a snapshot, a journal
            await client.engine.compact()
    except Exception as exc:  # a candidate that cannot hold them: say how far it got
        return written, f"{type(exc).__name__}: {str(exc)[:120]}"
    finally:
        await close_mongo(client)
    return written, None


def _message(n: int) -> dict[str, Any]:
    from core.ids import utcnow

    return {"_id": f"{n:032x}", "meeting_id": f"{n % 1000:032x}", "project_id": "p" * 32,
            "user_id": f"{n % 97:032x}", "user_name": "Ada Lovelace",
            "text": f"message number {n}, a sentence of ordinary length", "offset": n,
            "client_id": None, "created_at": utcnow(), "_v": 1}


OPEN_AND_READ = """
import asyncio, sys, time
from pathlib import Path
started = time.perf_counter()
from benchmarks.store_candidates import open_candidate
async def main():
    client, db = open_candidate(sys.argv[1], Path(sys.argv[2]))
    count = await db["meeting_messages"].count_documents({})
    await db["meeting_messages"].find_one({"_id": f"{7:032x}"})
    print(count, time.perf_counter() - started)
    await client.close()
asyncio.run(main())
"""


def run_startup(candidate: str, work: Path, documents: int, budget: float) -> dict[str, Any]:
    directory = work / f"startup-{candidate}"
    started = time.monotonic()
    written, error = asyncio.run(_fill(candidate, directory, documents, budget))
    fill_s = time.monotonic() - started
    row: dict[str, Any] = {"documents": written, "fill_s": round(fill_s, 1),
                           "disk_mb": round(_disk_bytes(directory) / 1e6, 1)}
    if error is not None:
        row["error"] = error
    if candidate == "memory":
        row.update(startup_s=None, note="nothing is kept: a start-up finds an empty store")
        return row
    done = subprocess.run([sys.executable, "-c", OPEN_AND_READ, candidate, str(directory)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False)
    count, seconds = done.stdout.split() if done.returncode == 0 else ("?", "nan")
    row.update(startup_s=round(float(seconds), 2), counted=count)
    return row


def _disk_bytes(directory: Path) -> int:
    if not directory.exists():
        return 0
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


async def _writes(candidate: str, directory: Path, writers: int, total: int,
                  budget: float) -> dict[str, Any]:
    """`writers` concurrent writers, each awaiting its insert_one before the next; stops at
    `total` writes or after `budget` seconds."""
    client, db = open_candidate(candidate, directory)
    collection = db["writes"]
    per_writer, done = total // writers, 0
    started, cpu = time.perf_counter(), time.process_time()

    async def writer(w: int) -> None:
        nonlocal done
        for i in range(per_writer):
            if time.perf_counter() - started > budget:
                return
            await collection.insert_one({"_id": f"{w}-{i}", "text": "x" * 100})
            done += 1

    await asyncio.gather(*(writer(w) for w in range(writers)))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    await close_mongo(client)
    # CPU time (this process, every thread) moves less than wall time on a shared machine.
    return {"writers": writers, "writes": done, "per_s": round(done / seconds),
            "cpu_us_per_write": round(cpu / max(done, 1) * 1e6, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["tests", "messages", "startup", "writes"])
    parser.add_argument("--candidate", action="append", choices=CANDIDATES)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=float, action="append",
                        help="messages per second per client (repeat; default 4, 8, 12)")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--budget", type=float, default=600.0,
                        help="seconds a candidate may take to store the documents")
    parser.add_argument("--writers", type=int, action="append")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="store-engines-"))
    print(f"# {args.part}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, work {work}")
    for candidate in args.candidate or CANDIDATES:
        if args.part == "tests":
            result: Any = run_tests(candidate, timeout=args.budget)
        elif args.part == "messages":
            result = run_messages(candidate, work, args.clients, args.rate or [4, 8, 12],
                                  args.duration)
        elif args.part == "startup":
            result = run_startup(candidate, work, args.documents, args.budget)
        else:
            result = [asyncio.run(_writes(candidate, work / f"writes-{candidate}-{w}", w, 20000,
                                          budget=60))
                      for w in args.writers or [1, 100]]
        print(f"| {candidate} | {json.dumps(result)} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
