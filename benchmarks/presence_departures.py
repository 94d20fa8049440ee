"""Presence after a mass disconnect: how fast one `roomcast serve` takes N sockets out of a
room's presence when they all drop at once.

    python benchmarks/presence_departures.py --connections 2000 --users 20

Starts a redis-server and one `roomcast serve` (REDIS_URL, a fresh DATA_DIR) on free ports,
registers `--users` users (the load tool's sign-in), puts them in one project, opens
`--connections` sockets spread over them (several tabs per user) plus one watcher, all in
`project:{id}`, then aborts every socket but the watcher at once and times how long until the
room's presence hash in Redis holds only the watcher and the watcher has had `presence:left`
for every other user. Prints departures per second and the CPU they cost.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from servers import ROOT, cpu_times, free_port, process, wait_ready

sys.path.insert(0, str(ROOT))

from load.client import SioClient
from load.roomcast import meeting_rooms, sign_in

BATCH = 50  # sockets connecting (and joining) at once


async def open_sockets(url: str, tokens: list[str], room: str, count: int,
                       on_event: Callable[..., None] | None = None) -> list[SioClient]:
    clients: list[SioClient] = []
    for start in range(0, count, BATCH):
        batch = [SioClient(on_event=on_event) for _ in range(start, min(count, start + BATCH))]
        await asyncio.gather(*(client.connect(url, auth={"token": tokens[(start + i) % len(
            tokens)]}) for i, client in enumerate(batch)))
        acks = await asyncio.gather(*(client.call("join", {"room": room}, within=60)
                                      for client in batch))
        assert all(ack and ack[0].get("ok") for ack in acks), acks[:3]
        clients.extend(batch)
    return clients


class Watcher:
    """Counts the `presence:left` a socket that stays in the room receives."""

    def __init__(self, expected: int) -> None:
        self.left: set[str] = set()
        self.expected = expected
        self.done = asyncio.Event()

    def __call__(self, client: SioClient, event: str, args: list[Any], _ns: int) -> None:
        if event == "presence:left" and args and isinstance(args[0], dict):
            self.left.add(str(args[0].get("user_id")))
            if len(self.left) >= self.expected:
                self.done.set()


async def only_watcher_left(redis: Redis, key: str) -> None:
    while True:
        if await redis.hlen(key) <= 1:
            return
        await asyncio.sleep(0.005)


async def measure(url: str, redis_url: str, connections: int, users: int,
                  pids: tuple[int, int],
                  profile: Callable[[], Callable[[], None]] | None = None,
                  ) -> tuple[float, float, float]:
    """Departures per second (wall clock), and the CPU seconds per 1,000 departures of the
    server and of redis-server (user + system time: less moved by other load on the machine
    than the wall clock)."""
    access = sign_in(url, register=users + 1)  # the last one watches
    project_id, _ = meeting_rooms(url, access, 0)
    room = f"project:{project_id}"
    clients = await open_sockets(url, access.tokens[:users], room, connections)
    seen = Watcher(users)
    watcher = (await open_sockets(url, access.tokens[users:], room, 1, seen))[0]
    redis = Redis.from_url(redis_url)
    key = f"roomcast:rt:pres:{room}"
    try:
        assert await redis.hlen(key) == connections + 1
        stop_profile = profile() if profile is not None else None
        cpu_before = [sum(cpu_times(pid)) for pid in pids]
        started = time.perf_counter()
        for client in clients:
            client.abort()
        await only_watcher_left(redis, key)
        await seen.done.wait()  # and the room has been told of every user that left
        elapsed = time.perf_counter() - started
        server_cpu, redis_cpu = (sum(cpu_times(pid)) - before
                                 for pid, before in zip(pids, cpu_before, strict=True))
        if stop_profile is not None:
            stop_profile()
    finally:
        watcher.close()
        await redis.aclose()
    per_1000 = 1000 / connections
    return connections / elapsed, server_cpu * per_1000, redis_cpu * per_1000


def spy(pid: int, out: Path) -> Callable[[], None]:
    """Start sampling the server with py-spy; the returned call stops it and writes `out`."""
    # The environment's own py-spy (`.venv/bin/python benchmarks/...` puts none on PATH).
    spy_proc = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record",
                                 "--pid", str(pid), "-r", "200", "-f", "raw", "-o", str(out)],
                                stdout=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches

    def stop() -> None:
        spy_proc.send_signal(signal.SIGINT)
        spy_proc.wait(30)

    return stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--profile", type=Path, default=None,
                        help="py-spy's raw samples of the server during the departures here")
    args = parser.parse_args()
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is missing: apt-get install redis-server")
    with tempfile.TemporaryDirectory() as tmp:
        redis_port, port = free_port(), free_port()
        redis_cmd = [binary, "--port", str(redis_port), "--save", "", "--appendonly", "no"]
        with process(redis_cmd, {}, Path(tmp) / "redis.log") as redis_proc:
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
            env = {"ENV": "development", "REDIS_URL": redis_url, "DATA_DIR": f"{tmp}/data",
                   "LOG_LEVEL": "WARNING", "REGISTRATION": "open",
                   "SOCKET_OUTBOUND_QUEUE": str(max(10_000, args.connections * 4))}
            cmd = [sys.executable, "-m", "roomcast.cli", "serve", "--host", "127.0.0.1",
                   "--port", str(port)]
            url = f"http://127.0.0.1:{port}"
            with process(cmd, env, Path(tmp) / "serve.log") as proc:
                wait_ready(url, proc)
                profile = (None if args.profile is None
                           else lambda: spy(proc.pid, args.profile))
                rate, cpu, redis_cpu = asyncio.run(measure(
                    url, redis_url, args.connections, args.users,
                    (proc.pid, redis_proc.pid), profile))
    print(f"{args.connections} sockets over {args.users} users left one room: "
          f"{rate:,.0f} departures/s; CPU seconds per 1,000 departures: server {cpu:.3f}, "
          f"redis-server {redis_cpu:.3f}")


if __name__ == "__main__":
    main()
