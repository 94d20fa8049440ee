"""What long-polling costs against WebSocket on one Roomcast process, with the official client.

Connect: the client's defaults (`io(url, { auth })`: the polling handshake, CONNECT over polling,
then the upgrade to WebSocket) against `transports: ["websocket"]`, clients one after another,
each timed until it is on WebSocket (the `connect` event, and the upgrade's end if later).
Fan-out: clients that stay on polling (`transports: ["polling"]`) against WebSocket clients,
all in one meeting, one more client sending messages at a fixed rate; each message is timed
from its send to its arrival, and the server's CPU per delivery is read from /proc.

    python benchmarks/polling_cost.py --clients 200 --rate 2 --seconds 15

The server (seeded, tests/integration/realtime/seeded_serve.py, on the embedded default, where
polling is served) runs on CPU 0, the Node client (benchmarks/node/polling_cost.mjs, installed
with npm on first use) on CPU 1. Prints a markdown table with the polling/WebSocket ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from servers import (
    NODE_DIR,
    cpu_times,
    free_port,
    node_installed,
    pinned,
    process,
    wait_ready,
)

USER = "c0000000000000000000000000000001"
PROJECT = "c0000000000000000000000000000002"
MEETING = "c0000000000000000000000000000003"
SERVER_ENV = {
    "ENV": "test", "LOG_LEVEL": "WARNING",
    # One sender and many sockets from one address: lift the limits so the transports are
    # measured, not the limiter.
    "SOCKET_EVENTS_PER_SECOND": "100000", "SOCKET_EVENT_BURST": "100000",
    "RATE_LIMIT_IP_PER_MINUTE": "1000000", "RATE_LIMIT_USER_PER_MINUTE": "1000000",
}


def write_seed(path: Path) -> str:
    """One user, one project, one meeting; returns the user's access token."""
    from core.settings import Settings
    from core.tokens import TokenService

    path.write_text(json.dumps({
        "users": [{"id": USER, "email": "polling@bench.local", "name": "Polling"}],
        "projects": [{"id": PROJECT, "name": "bench", "owner_id": USER, "member_ids": [USER]}],
        "meetings": [{"id": MEETING, "project_id": PROJECT, "title": "bench",
                      "scheduled_at": "2026-01-01T00:00:00Z", "created_by": USER}],
    }))
    settings = Settings(_env_file=None, env="test", access_token_ttl_seconds=6 * 3600)
    return TokenService(settings).issue(sub=USER, role="member", typ="access").token


def run_node(*args: str, server_pid: int) -> tuple[dict[str, Any], float]:
    """One run of the Node client; its JSON line and the server's CPU seconds meanwhile."""
    before = sum(cpu_times(server_pid))
    done = subprocess.run([*pinned(1), "node", str(NODE_DIR / "polling_cost.mjs"), *args],
                          check=True, capture_output=True, timeout=600)
    return json.loads(done.stdout), sum(cpu_times(server_pid)) - before


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def connect_rows(url: str, token: str, clients: int, pid: int) -> list[dict[str, Any]]:
    rows = []
    for transports in ("websocket", "default"):
        result, cpu = run_node("connect", url, token, transports, str(clients), server_pid=pid)
        times = result["upgrade_ms"] or result["connect_ms"]
        rows.append({
            "case": "connect, " + ("polling + upgrade (the client's defaults)"
                                   if transports == "default" else "WebSocket only"),
            "p50": statistics.median(times), "p99": quantile(times, 0.99),
            "connected_p50": statistics.median(result["connect_ms"]),
            "upgraded_first": result["upgraded_first"] if transports == "default" else None,
            "cpu_ms_per": 1000 * cpu / clients,
        })
    return rows


def fanout_rows(url: str, token: str, clients: int, rate: float, seconds: float,
                pid: int) -> list[dict[str, Any]]:
    rows = []
    for transports in ("websocket", "polling"):
        result, cpu = run_node("fanout", url, token, f"meeting:{MEETING}", transports,
                               str(clients), str(rate), str(seconds), server_pid=pid)
        latencies = result["latency_ms"]
        dropped = "".join(f", {n} dropped ({why})" for why, n in result["dropped"].items())
        rows.append({
            "case": f"fan-out to {clients} {transports} clients",
            "p50": statistics.median(latencies), "p99": quantile(latencies, 0.99),
            "delivered": f"{result['delivered']}/{result['expected']}{dropped}",
            "cpu_ms_per": 1000 * cpu / max(1, result["delivered"]),
        })
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| case | p50 ms | p99 ms | server CPU ms per | note |",
             "| --- | ---: | ---: | ---: | --- |"]
    for row in rows:
        note = (f"delivered {row['delivered']}" if "delivered" in row
                else f"`connect` event p50 {row['connected_p50']:.1f} ms" + (
                    "" if row["upgraded_first"] is None
                    else f", {row['upgraded_first']} on WebSocket by then"))
        per = "delivery" if "delivered" in row else "connection (open and close)"
        lines.append(f"| {row['case']} | {row['p50']:.1f} | {row['p99']:.1f} | "
                     f"{row['cpu_ms_per']:.3f} / {per} | {note} |")
    return "\n".join(lines)


def ratios(rows: list[dict[str, Any]]) -> str:
    """Each pair of rows (WebSocket first, then polling) as polling/WebSocket ratios."""
    lines = []
    for ws, polling in zip(rows[::2], rows[1::2], strict=True):
        name = ws["case"].split(",")[0].split(" to ")[0]
        lines.append(f"{name}: polling/WebSocket p50 x{polling['p50'] / ws['p50']:.2f}, "
                     f"p99 x{polling['p99'] / ws['p99']:.2f}, server CPU "
                     f"x{polling['cpu_ms_per'] / ws['cpu_ms_per']:.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=float, default=2.0, help="messages a second")
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    node_installed()
    began = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="roomcast-polling-") as tmp:
        work = Path(tmp)
        token = write_seed(work / "seed.json")
        port = free_port()
        env = {**SERVER_ENV, "ROOMCAST_TEST_SEED": str(work / "seed.json"),
               "DATA_DIR": str(work / "data")}
        cmd = [*pinned(0), sys.executable, "-m", "tests.integration.realtime.seeded_serve",
               "--host", "127.0.0.1", "--port", str(port)]
        with process(cmd, env, work / "server.log") as server:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, server)
            rows = connect_rows(url, token, args.clients, server.pid)
            rows += fanout_rows(url, token, args.clients, args.rate, args.seconds, server.pid)
    load_after = os.getloadavg()
    print(f"{began}; {args.clients} clients, {args.rate:g} messages/s for {args.seconds:g} s; "
          f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after\n")
    print(table(rows))
    print()
    print(ratios(rows))


if __name__ == "__main__":
    main()
